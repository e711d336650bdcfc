/*
 * grpc_check.c - envoy.service.auth.v3.Authorization/Check over HTTP/2.
 *
 * The CheckRequest is encoded by hand, in one pass into one buffer
 * (below), with the public field numbers of envoy.service.auth.v3 and
 * envoy.config.core.v3; the CheckResponse is read with gwf/sdk_proto.h:
 *
 *   CheckRequest.attributes = 1 (AttributeContext)
 *     source = 1, destination = 2 (Peer: address = 1 (Address:
 *       socket_address = 1 (SocketAddress: address = 2, port_value = 3)))
 *     request = 4 (Request: http = 2 (HttpRequest: id = 1, method = 2,
 *       headers = 3 (map), path = 4, host = 5, scheme = 6, size = 9,
 *       protocol = 10, body = 11, raw_body = 12))
 *     context_extensions = 10 (map)
 *
 *   CheckResponse: status = 1 (google.rpc.Status: code = 1),
 *     denied_response = 2 (status = 1 (HttpStatus: code = 1),
 *       headers = 2, body = 3),
 *     ok_response = 3 (headers = 2, dynamic_metadata = 3,
 *       headers_to_remove = 5, response_headers_to_add = 6,
 *       query_parameters_to_set = 7, query_parameters_to_remove = 8),
 *     dynamic_metadata = 4 (google.protobuf.Struct, read by proto.c)
 *   HeaderValueOption: header = 1 (HeaderValue: key = 1, value = 2,
 *     raw_value = 3), append = 2 (BoolValue: value = 1)
 *   QueryParameter: key = 1, value = 2
 *
 * A verdict of denial stays a denial whatever else of the answer is
 * wrong: a denied_response header with an invalid name or value is left
 * out (counted and logged), a denied_response that cannot be read at all
 * is answered 403. Otherwise an authz server that echoes request text
 * into a denial header would let a client turn the denial into an error,
 * which failOpen allows.
 *
 * The dynamic_metadata of an allowing answer becomes JSON text that the
 * filter leaves for later plugins (stream value
 * "ext_authz.dynamic_metadata"); a Struct that cannot be read is a
 * malformed answer like any other. A denial's is not read at all.
 *
 * The result is read from the grpc-status trailer only: a stream that
 * ends without trailers is an error, as in Envoy.
 *
 * Path and host are the request's raw :path and :authority (what the
 * upstream gets); a request whose strings are not UTF-8 is refused before
 * anything is sent (check_carriable).
 *
 * The call is a unary gRPC: one length-prefixed message each way, the
 * result in the grpc-status trailer. To a plain-http server the SDK's
 * h2c gRPC client (gwf/sdk_grpc.h) carries it: every check of a worker
 * is a stream of one multiplexed connection (libcurl 7.88 opened one
 * connection per check there). Over TLS libcurl speaks HTTP/2 (ALPN).
 */
#include "ext_authz.h"
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EA_STR_(x) #x
#define EA_STR(x) EA_STR_(x)

/* ---- writing the CheckRequest ----------------------------------------
 *
 * The CheckRequest is written in one pass into one buffer, gRPC's
 * 5-byte prefix first, sized once from the request's lengths (it grows
 * only when the estimate falls short). A nested message's length is a
 * varint written before its contents and unknown until they are: one
 * byte is kept for it, and the contents move up when the length needs
 * more (128 bytes or more: the few outer messages). Header names and
 * values go from the host's views into the buffer without copies in
 * between: a check costs one allocation here, not one per field. */

#define EA_PREFIX 5

/* Room for `more` bytes (and the NUL gwf_strbuf keeps). 0, or -1 with
 * b->failed set. */
static int
pb_room(gwf_strbuf *b, size_t more)
{
    size_t need, cap;
    char *grown;

    if (b->failed)
        return -1;
    if (more > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    need = b->len + more + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap > need / 2 ? 2 * b->cap : need;
    if (!(grown = realloc(b->data, cap))) {
        b->failed = 1;
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

static size_t
varint_size(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Write `v` at `p` (room made); returns the end. */
static char *
varint_put(char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

/* tag + varint, then nothing (room for both made here: at most 5 + 10
 * bytes, and the NUL). */
static void
pb_key_varint(gwf_strbuf *b, uint32_t field, int wire, uint64_t v)
{
    char *p;

    if (b->failed || (b->cap - b->len <= 20 && pb_room(b, 20) != 0))
        return;
    p = varint_put(b->data + b->len, (uint64_t)field << 3 | (uint64_t)wire);
    b->len = (size_t)(varint_put(p, v) - b->data);
}

static void
pb_uint(gwf_strbuf *b, uint32_t field, uint64_t v)
{
    pb_key_varint(b, field, GWF_PB_VARINT, v);
}

static void
pb_bytes(gwf_strbuf *b, uint32_t field, const void *data, size_t len)
{
    pb_key_varint(b, field, GWF_PB_LEN, len);
    if (len == 0 || pb_room(b, len) != 0)
        return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

/* Open a nested message: its tag and one byte kept for its length.
 * Returns where that byte is, for pb_close. */
static size_t
pb_open(gwf_strbuf *b, uint32_t field)
{
    size_t at;

    pb_key_varint(b, field, GWF_PB_LEN, 0);
    at = b->len - 1; /* the 0 length, one byte */
    return b->failed ? 0 : at;
}

/* Close the message opened at `at`: write its length there. */
static void
pb_close(gwf_strbuf *b, size_t at)
{
    size_t n, k;

    if (b->failed)
        return;
    n = b->len - at - 1;
    k = varint_size(n);
    if (k > 1) {
        if (pb_room(b, k - 1) != 0)
            return;
        memmove(b->data + at + k, b->data + at + 1, n);
        b->len += k - 1;
    }
    varint_put(b->data + at, n);
}

/* Peer `field` from attributes `addr` and `port`: 0, or -1 when the host
 * could not give one (out of memory: not the same as absent, an address
 * rule of the server would not see it). */
static int
put_peer(gwf_strbuf *b, uint32_t field, gwf_stream *s, gwf_attribute addr,
         gwf_attribute port)
{
    gwf_view a = {0}, p = {0};
    size_t peer, address, sock;
    unsigned long n = 0;
    gwf_status st = s->host->attribute(s, addr, &a);

    if (st != GWF_OK)
        return st == GWF_ERR_NOT_FOUND ? 0 : -1;
    if (a.len == 0)
        return 0;
    /* Peer.address (1) = Address.socket_address (1) = SocketAddress:
     * address (2), port_value (3) when it is a port number. */
    peer = pb_open(b, field);
    address = pb_open(b, 1);
    sock = pb_open(b, 1);
    pb_bytes(b, 2, a.ptr, a.len);
    st = s->host->attribute(s, port, &p);
    if (st != GWF_OK && st != GWF_ERR_NOT_FOUND)
        return -1;
    if (st == GWF_OK && p.len && p.len < 6) {
        for (size_t i = 0; i < p.len && n < 65536; i++)
            n = p.ptr[i] >= '0' && p.ptr[i] <= '9'
                    ? n * 10 + (unsigned long)(p.ptr[i] - '0')
                    : 65536;
        if (n > 0 && n < 65536)
            pb_uint(b, 3, n);
    }
    pb_close(b, sock);
    pb_close(b, address);
    pb_close(b, peer);
    return 0;
}

/* headersToForward (Envoy's allowed_headers), when set, is the whole
 * list of request headers a gRPC check carries, pseudo-headers
 * included (their values still travel in the method, path, host and
 * scheme fields); unset, every header is sent. */
static int
forwarded(const ea_config *cfg, const char *name, size_t len)
{
    return cfg->headers_to_forward.count == 0 ||
           ea_names_has(&cfg->headers_to_forward, name, len);
}

/* One header of the CheckRequest's map, as the host has it. `joined`:
 * it went into an earlier one of the same name. */
typedef struct ea_hdr {
    gwf_view name, value;
    int joined;
} ea_hdr;

#define EA_HDRS_ON_STACK 48

static int
same_name(const gwf_view *a, const gwf_view *b)
{
    return a->len == b->len && strncasecmp(a->ptr, b->ptr, a->len) == 0;
}

/* The headers map (HttpRequest.headers, field 3) as Envoy gives it:
 * lowercase names, the values of a repeated name joined with ',' in the
 * first one's place, pseudo-headers first. */
static void
put_headers(gwf_strbuf *b, ea_hdr *h, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        size_t value_len = h[i].value.len, entry, at;

        if (h[i].joined)
            continue;
        for (size_t j = i + 1; j < count; j++) {
            if (!h[j].joined && same_name(&h[i].name, &h[j].name)) {
                h[j].joined = 1;
                value_len += 1 + h[j].value.len;
            }
        }
        entry = 1 + varint_size(h[i].name.len) + h[i].name.len + 1 +
                varint_size(value_len) + value_len;
        pb_key_varint(b, 3, GWF_PB_LEN, entry);
        pb_key_varint(b, 1, GWF_PB_LEN, h[i].name.len);
        if (pb_room(b, entry) != 0)
            return;
        for (size_t k = 0; k < h[i].name.len; k++) {
            unsigned char c = (unsigned char)h[i].name.ptr[k];
            b->data[b->len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        pb_key_varint(b, 2, GWF_PB_LEN, value_len);
        at = b->len;
        memcpy(b->data + at, h[i].value.ptr, h[i].value.len);
        at += h[i].value.len;
        for (size_t j = i + 1; j < count; j++) {
            if (h[j].joined == 1 && same_name(&h[i].name, &h[j].name)) {
                h[j].joined = 2; /* written */
                b->data[at++] = ',';
                memcpy(b->data + at, h[j].value.ptr, h[j].value.len);
                at += h[j].value.len;
            }
        }
        b->len = at;
    }
}

/* The framed CheckRequest into `out` (empty). x-envoy-auth-partial-body
 * is the gateway's, set only when the body was cut: the client's own is
 * left out, so that the server never reads a cut body as whole or the
 * reverse. 0, or -1 (out of memory). */
static int
encode_check_request(const ea_config *cfg, const ea_route *route, gwf_stream *s,
                     const char *body, size_t body_len, int partial,
                     gwf_strbuf *out)
{
    static const struct {
        const char *name;
        size_t len;
    } pseudo[] = {
        {":authority", 10}, {":method", 7}, {":path", 5}, {":scheme", 7}};
    enum { AUTHORITY, METHOD, PATH, SCHEME };
    ea_hdr stack[EA_HDRS_ON_STACK], *h = stack;
    gwf_view pv[4], v;
    int have[4];
    size_t count = s->host->header_count(s, GWF_REQUEST), n = 0;
    size_t estimate = 256 + body_len, check, attrs, request, http;
    int rc = -1;

    if (count > SIZE_MAX / sizeof(*h) - 5)
        return -1;
    if (count + 5 > EA_HDRS_ON_STACK && !(h = malloc((count + 5) * sizeof(*h))))
        return -1;
    for (size_t i = 0; i < 4; i++) {
        gwf_status st = s->host->header_get(s, GWF_REQUEST, pseudo[i].name,
                                            pseudo[i].len, 0, &pv[i]);
        if (st != GWF_OK && st != GWF_ERR_NOT_FOUND)
            goto done; /* the host failed: not an absent pseudo-header */
        have[i] = st == GWF_OK;
        if (have[i] && forwarded(cfg, pseudo[i].name, pseudo[i].len))
            h[n++] = (ea_hdr){{pseudo[i].name, pseudo[i].len}, pv[i], 0};
    }
    for (size_t i = 0; i < count; i++) {
        gwf_view name, value;

        if (s->host->header_at(s, GWF_REQUEST, i, &name, &value) != GWF_OK)
            goto done; /* within header_count: the host failed */
        if ((name.len == 25 &&
             strncasecmp(name.ptr, "x-envoy-auth-partial-body", 25) == 0) ||
            !forwarded(cfg, name.ptr, name.len))
            continue;
        h[n++] = (ea_hdr){name, value, 0};
    }
    if (partial)
        h[n++] = (ea_hdr){{"x-envoy-auth-partial-body", 25}, {"true", 4}, 0};
    for (size_t i = 0; i < n; i++)
        estimate += 2 * (h[i].name.len + h[i].value.len) + 16;

    if (pb_room(out, estimate) != 0)
        goto done;
    memset(out->data, 0, EA_PREFIX);
    out->len = EA_PREFIX;
    check = EA_PREFIX;
    attrs = pb_open(out, 1); /* CheckRequest.attributes */
    if (put_peer(out, 1, s, GWF_ATTR_REMOTE_ADDRESS, GWF_ATTR_REMOTE_PORT) ||
        put_peer(out, 2, s, GWF_ATTR_LOCAL_ADDRESS, GWF_ATTR_LOCAL_PORT))
        goto done;
    request = pb_open(out, 4); /* AttributeContext.request */
    http = pb_open(out, 2);    /* Request.http */
    if (s->host->attribute(s, GWF_ATTR_REQUEST_ID, &v) == GWF_OK)
        pb_bytes(out, 1, v.ptr, v.len);
    if (have[METHOD])
        pb_bytes(out, 2, pv[METHOD].ptr, pv[METHOD].len);
    put_headers(out, h, n);
    if (have[PATH])
        pb_bytes(out, 4, pv[PATH].ptr, pv[PATH].len);
    if (have[AUTHORITY])
        pb_bytes(out, 5, pv[AUTHORITY].ptr, pv[AUTHORITY].len);
    if (have[SCHEME])
        pb_bytes(out, 6, pv[SCHEME].ptr, pv[SCHEME].len);
    if (body) {
        pb_uint(out, 9, body_len);
        pb_bytes(out, ea_body_of(cfg, route)->pack_as_bytes ? 12 : 11, body,
                 body_len);
    }
    if (s->host->attribute(s, GWF_ATTR_PROTOCOL, &v) == GWF_OK)
        pb_bytes(out, 10, v.ptr, v.len);
    pb_close(out, http);
    pb_close(out, request);
    for (size_t i = 0; route && i < route->context_extensions.count; i++) {
        const ea_pair *p = &route->context_extensions.items[i];
        size_t entry = pb_open(out, 10);

        pb_bytes(out, 1, p->name, strlen(p->name));
        pb_bytes(out, 2, p->value, strlen(p->value));
        pb_close(out, entry);
    }
    pb_close(out, attrs);
    if (out->failed || out->len - check > UINT32_MAX)
        goto done;
    out->data[0] = 0; /* uncompressed */
    out->data[1] = (char)((out->len - check) >> 24);
    out->data[2] = (char)((out->len - check) >> 16);
    out->data[3] = (char)((out->len - check) >> 8);
    out->data[4] = (char)(out->len - check);
    out->data[out->len] = '\0';
    rc = 0;
done:
    if (h != stack)
        free(h);
    return rc;
}

/* Can the CheckRequest carry this request? Its strings are proto3
 * strings, which must be UTF-8: a server that cannot parse the message
 * fails the call, and a failed call must not be a client's way around
 * the check. GWF_ERR_BAD_ARGUMENT (the client's fault) or GWF_OK. */
static gwf_status
check_carriable(const ea_config *cfg, gwf_stream *s, const char *body,
                size_t body_len, int pack_as_bytes, const char **why)
{
    ea_request req;
    size_t count = s->host->header_count(s, GWF_REQUEST);
    gwf_status st = ea_request_parts(s, &req, why);

    if (st != GWF_OK)
        return st;
    if (!ea_utf8_valid(req.path.ptr, req.path.len) ||
        (req.has_authority &&
         !ea_utf8_valid(req.authority.ptr, req.authority.len))) {
        *why = "the request's path or authority is not UTF-8";
        return GWF_ERR_BAD_ARGUMENT;
    }
    for (size_t i = 0; i < count; i++) {
        gwf_view name, value;

        if (s->host->header_at(s, GWF_REQUEST, i, &name, &value) != GWF_OK ||
            !forwarded(cfg, name.ptr, name.len))
            continue;
        if (!ea_utf8_valid(name.ptr, name.len) ||
            !ea_utf8_valid(value.ptr, value.len)) {
            *why = "a request header is not UTF-8";
            return GWF_ERR_BAD_ARGUMENT;
        }
    }
    if (body && !pack_as_bytes && !ea_utf8_valid(body, body_len)) {
        *why = "the request body is not UTF-8 (see packAsBytes)";
        return GWF_ERR_BAD_ARGUMENT;
    }
    return GWF_OK;
}

/* "grpc-timeout: <n><unit>" for the libcurl path, in the text the SDK's
 * own gRPC client sends (gwf_grpc_timeout_text: at most 8 digits, the
 * finest unit that fits, rounded up so that the server never gives up
 * before we do). */
void
ea_grpc_timeout_header(gwf_strbuf *line, uint64_t timeout_ns)
{
    char text[GWF_GRPC_TIMEOUT_TEXT_SIZE];

    gwf_grpc_timeout_text(text, sizeof(text), timeout_ns);
    gwf_strbuf_appendf(line, "grpc-timeout: %s", text);
}

#define EA_CHECK_PATH "/envoy.service.auth.v3.Authorization/Check"

gwf_status
ea_grpc_config(ea_config *cfg, gwf_cfg *c)
{
    gwf_grpc_peer_options options = {
        .authority = cfg->authority,
        .max_message = EA_MAX_RESPONSE_BYTES,
    };

    (void)c;
    if (cfg->mode != EA_MODE_GRPC || cfg->tls || !cfg->connect_host ||
        cfg->connect_to)
        return GWF_OK;
    /* As in HTTP mode: a name that does not resolve now is left to
     * libcurl, which tries again per check. */
    gwf_grpc_peer_new(cfg->connect_host, cfg->connect_port, &options,
                      &cfg->grpc_peer, NULL, 0);
    return GWF_OK;
}

/* The SDK's client ended the call (a worker callback, never inside
 * ea_call_start or ea_call_cleanup): what the verdict needs is copied,
 * the SDK's call is freed when this returns. */
static void
on_grpc_done(void *arg, gwf_grpc_call *handle, const gwf_grpc_result *r)
{
    ea_call *call = arg;

    call->grpc = NULL;
    ea_call_left(call);
    call->grpc_outcome = r->outcome;
    call->grpc_status = r->status;
    call->grpc_retryable = r->retryable;
    call->grpc_error = r->error;
    call->status = r->http_status;
    if (r->message)
        gwf_strbuf_append(&call->body, (const char *)r->message,
                          r->message_len);
    call->grpc_answering = handle;
    if (call->done)
        call->done(call, CURLE_OK, call->done_arg);
    call->grpc_answering = NULL;
}

int
ea_grpc_send(ea_worker *w, ea_call *call)
{
    gwf_grpc_client *client = ea_worker_grpc(w);

    call->grpc =
        client ? gwf_grpc_call_start(client, EA_CHECK_PATH, call->request_body,
                                     call->request_body_len,
                                     call->grpc_timeout_ns, on_grpc_done, call)
               : NULL;
    return call->grpc ? 0 : -1;
}

gwf_status
ea_grpc_prepare(const ea_config *cfg, const ea_route *route, gwf_stream *s,
                ea_call *call, const char *body, size_t body_len, int partial,
                const char **why)
{
    gwf_strbuf msg = {0}, url = {0}, line = {0};
    struct curl_slist *list = NULL;
    int pack_as_bytes = ea_body_of(cfg, route)->pack_as_bytes;
    gwf_status st;

    /* A body cut at maxRequestBytes may end inside a character. */
    if (body && partial && !pack_as_bytes)
        body_len = ea_utf8_whole_len(body, body_len);
    st = check_carriable(cfg, s, body, body_len, pack_as_bytes, why);
    if (st != GWF_OK)
        return st;

    if (encode_check_request(cfg, route, s, body, body_len, partial, &msg) !=
        0) {
        gwf_strbuf_free(&msg);
        return GWF_ERR_NO_MEMORY;
    }
    if (cfg->grpc_peer) {
        call->request_body = msg.data; /* owned by the call now */
        call->request_body_len = msg.len;
        call->grpc_lean = 1;
        /* The filter's requestTimeout timer ends the check and says so;
         * the SDK's deadline is a backstop 1 ms behind it. */
        call->grpc_timeout_ns = cfg->timeout_ns + UINT64_C(1000000);
        return GWF_OK;
    }
    if (!ea_call_easy(cfg, call)) {
        gwf_strbuf_free(&msg);
        return GWF_ERR_NO_MEMORY;
    }
    call->request_body = msg.data; /* owned by the call now */
    call->request_body_len = msg.len;
    gwf_strbuf_appendf(&url, "%s/envoy.service.auth.v3.Authorization/Check",
                       cfg->base_url);
    if (url.failed)
        goto fail;
    curl_easy_setopt(call->easy, CURLOPT_URL, url.data);
    gwf_strbuf_free(&url);
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDS, call->request_body);
    curl_easy_setopt(call->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)call->request_body_len);
    /* Wait for a connection being set up for another check, then share it
     * instead of opening a second one. (Not in HTTP mode: HTTP/1.1 checks
     * would queue behind each other.) */
    if (ea_h2c_shared_ok(cfg))
        curl_easy_setopt(call->easy, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(call->easy, CURLOPT_HTTP_VERSION,
                     cfg->tls ? (long)CURL_HTTP_VERSION_2TLS
                              : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    if (!ea_h2c_shared_ok(cfg))
        curl_easy_setopt(call->easy, CURLOPT_FORBID_REUSE, 1L);
    list = curl_slist_append(list, "content-type: application/grpc");
    if (list)
        list = curl_slist_append(list, "te: trailers");
    if (list)
        list = curl_slist_append(list, "Accept:");
    if (list)
        list = curl_slist_append(list, "Expect:");
    ea_grpc_timeout_header(&line, cfg->timeout_ns);
    if (list && !line.failed)
        list = curl_slist_append(list, line.data);
    gwf_strbuf_free(&line);
    if (list && cfg->authority) {
        gwf_strbuf_appendf(&line, "Host: %s", cfg->authority);
        if (!line.failed)
            list = curl_slist_append(list, line.data);
        gwf_strbuf_free(&line);
    }
    if (!list)
        goto fail;
    call->headers = list;
    curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, list);
    return GWF_OK;
fail:
    gwf_strbuf_free(&url);
    curl_slist_free_all(list);
    return GWF_ERR_NO_MEMORY;
}

/* HeaderValueOption -> name, value, append. -1 if the message is
 * malformed, -2 if it is well formed but the name or value is not a valid
 * header name or value. */
static int
decode_header_option(const uint8_t *data, size_t len, gwf_view *name,
                     gwf_view *value, int *append)
{
    gwf_pb_reader r = {data, data + len};
    gwf_pb_field f;
    int rc;

    *append = 0;
    name->ptr = value->ptr = NULL;
    name->len = value->len = 0;
    while ((rc = gwf_pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == GWF_PB_LEN) {
            gwf_pb_reader hr = {f.data, f.data + f.len};
            gwf_pb_field hf;
            int hrc;
            while ((hrc = gwf_pb_next(&hr, &hf)) == 1) {
                if (hf.wire != GWF_PB_LEN)
                    continue;
                if (hf.number == 1) {
                    name->ptr = (const char *)hf.data;
                    name->len = hf.len;
                } else if (hf.number == 2 || hf.number == 3) {
                    value->ptr = (const char *)hf.data;
                    value->len = hf.len;
                }
            }
            if (hrc < 0)
                return -1;
        } else if (f.number == 2 && f.wire == GWF_PB_LEN) {
            gwf_pb_reader br = {f.data, f.data + f.len};
            gwf_pb_field bf;
            int brc;
            while ((brc = gwf_pb_next(&br, &bf)) == 1) {
                if (bf.number == 1 && bf.wire == GWF_PB_VARINT)
                    *append = bf.varint != 0;
            }
            if (brc < 0)
                return -1;
        }
    }
    if (rc < 0)
        return -1;
    if (!gwf_is_header_name(name->ptr, name->len) ||
        !gwf_is_header_value(value->ptr, value->len))
        return -2;
    return 0;
}

static int
decode_denied(const uint8_t *data, size_t len, const ea_answer_limit *limit,
              ea_verdict *v)
{
    gwf_pb_reader r = {data, data + len};
    gwf_pb_field f;
    int rc;

    while ((rc = gwf_pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == GWF_PB_LEN) {
            gwf_pb_reader sr = {f.data, f.data + f.len};
            gwf_pb_field sf;
            int src;
            while ((src = gwf_pb_next(&sr, &sf)) == 1) {
                if (sf.number == 1 && sf.wire == GWF_PB_VARINT)
                    v->status = sf.varint >= 200 && sf.varint <= 599
                                    ? (uint32_t)sf.varint
                                    : 403;
            }
            if (src < 0)
                return -1;
        } else if (f.number == 2 && f.wire == GWF_PB_LEN) {
            gwf_view name, value;
            int append, hrc;
            if (v->to_client.count + v->dropped_headers >= limit->max) {
                v->note = limit->denied_note;
                return -1;
            }
            hrc = decode_header_option(f.data, f.len, &name, &value, &append);
            if (hrc == -2) {
                v->dropped_headers++;
                continue;
            }
            if (hrc != 0 || ea_pairs_add(&v->to_client, name.ptr, name.len,
                                         value.ptr, value.len) != 0)
                return -1;
        } else if (f.number == 3 && f.wire == GWF_PB_LEN) {
            char *body = realloc(v->body, f.len ? f.len : 1);
            if (!body)
                return -1;
            memcpy(body, f.data, f.len);
            v->body = body;
            v->body_len = f.len;
        }
    }
    return rc < 0 ? -1 : 0;
}

/* headers_to_remove: a pseudo-header or Host is ignored, as Envoy does
 * (the request line and the route's Host are not the service's to drop);
 * any other invalid name makes the answer malformed. */
static int
decode_removal(const gwf_pb_field *f, ea_verdict *v)
{
    const char *name = (const char *)f->data;

    if ((f->len > 0 && name[0] == ':') ||
        (f->len == 4 && strncasecmp(name, "host", 4) == 0))
        return 0;
    if (!gwf_is_header_name(name, f->len))
        return -1;
    return ea_names_append(&v->to_upstream_remove, name, f->len);
}

/* QueryParameter (7) or a key to remove (8). */
static int
decode_query(const gwf_pb_field *f, ea_verdict *v)
{
    gwf_pb_reader r = {f->data, f->data + f->len};
    gwf_pb_field qf;
    gwf_view key = {0}, value = {0};
    int rc;

    if (f->number == 8)
        return ea_pairs_add_exact(&v->query_remove, (const char *)f->data,
                                  f->len, "", 0);
    while ((rc = gwf_pb_next(&r, &qf)) == 1) {
        if (qf.wire != GWF_PB_LEN)
            continue;
        if (qf.number == 1) {
            key.ptr = (const char *)qf.data;
            key.len = qf.len;
        } else if (qf.number == 2) {
            value.ptr = (const char *)qf.data;
            value.len = qf.len;
        }
    }
    if (rc < 0 || key.len == 0)
        return -1;
    return ea_pairs_add_exact(&v->query_set, key.ptr, key.len, value.ptr,
                              value.len);
}

/* headers (2) and response_headers_to_add (6): append false sets (each
 * in turn, so of two values of one name the last wins), append true
 * adds. */
static int
decode_mutation(const gwf_pb_field *f, ea_verdict *v)
{
    gwf_view name, value;
    int append;
    ea_pairs *into;

    if (decode_header_option(f->data, f->len, &name, &value, &append) != 0)
        return -1;
    if (f->number == 6)
        into = append ? &v->to_client : &v->to_client_set;
    else
        into = append ? &v->to_upstream_add : &v->to_upstream_set;
    return ea_pairs_add(into, name.ptr, name.len, value.ptr, value.len);
}

/* `ok_metadata` collects OkHttpResponse.dynamic_metadata (3). */
static int
decode_ok(const uint8_t *data, size_t len, const ea_answer_limit *limit,
          ea_verdict *v, pb_struct_reader *ok_metadata, int *has_ok_metadata)
{
    gwf_pb_reader r = {data, data + len};
    gwf_pb_field f;
    size_t operations = 0;
    int rc, frc;

    while ((rc = gwf_pb_next(&r, &f)) == 1) {
        if (f.wire != GWF_PB_LEN)
            continue;
        if (f.number == 2 || f.number == 5 || f.number == 6 || f.number == 7 ||
            f.number == 8) {
            /* Bounded before anything is kept: the work stays linear. */
            if (++operations > limit->max) {
                v->note = limit->ok_note;
                return -1;
            }
        }
        if (f.number == 2 || f.number == 6)
            frc = decode_mutation(&f, v);
        else if (f.number == 5)
            frc = decode_removal(&f, v);
        else if (f.number == 7 || f.number == 8)
            frc = decode_query(&f, v);
        else if (f.number == 3) {
            *has_ok_metadata = 1;
            frc = pb_struct_merge(ok_metadata, f.data, f.len);
            if (frc != 0)
                v->note = ok_metadata->why;
        } else
            frc = 0;
        if (frc != 0)
            return -1;
    }
    return rc < 0 ? -1 : 0;
}

/* The dynamic_metadata of an allowing answer, as Envoy takes it: the
 * deprecated OkHttpResponse.dynamic_metadata when present (even empty)
 * replaces CheckResponse.dynamic_metadata (4), every occurrence of which
 * is merged. An empty Struct sets nothing (Envoy emits only a non-empty
 * one). 0, or -1 (malformed; v->note says why). */
static int
decode_metadata(const uint8_t *data, size_t len, ea_verdict *v,
                pb_struct_reader *ok_metadata, int has_ok_metadata)
{
    pb_struct_reader outer = {0};
    pb_struct_reader *chosen = ok_metadata;
    gwf_pb_reader r = {data, data + len};
    gwf_pb_field f;
    int rc = 0;

    if (!has_ok_metadata) {
        chosen = &outer;
        while (rc == 0 && gwf_pb_next(&r, &f) == 1) {
            if (f.number == 4 && f.wire == GWF_PB_LEN)
                rc = pb_struct_merge(&outer, f.data, f.len);
        }
    }
    if (rc == 0 && chosen->object && json_object_size(chosen->object) > 0)
        rc = pb_struct_dump(chosen, &v->dynamic_metadata,
                            &v->dynamic_metadata_len);
    if (rc != 0)
        v->note = chosen->why;
    pb_struct_reader_free(&outer);
    return rc;
}

int
ea_check_response_decode(const uint8_t *data, size_t len,
                         const ea_answer_limit *limit, ea_verdict *v)
{
    pb_struct_reader ok_metadata = {0};
    int has_ok_metadata = 0;
    gwf_pb_reader r = {data, data + len};
    gwf_pb_field f;
    int rc;
    uint64_t code = 0;
    const uint8_t *denied = NULL, *ok = NULL;
    size_t denied_len = 0, ok_len = 0;

    memset(v, 0, sizeof(*v));
    while ((rc = gwf_pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.wire == GWF_PB_LEN) {
            gwf_pb_reader sr = {f.data, f.data + f.len};
            gwf_pb_field sf;
            int src;
            while ((src = gwf_pb_next(&sr, &sf)) == 1) {
                if (sf.number == 1 && sf.wire == GWF_PB_VARINT)
                    code = sf.varint;
            }
            if (src < 0)
                goto bad;
        } else if (f.number == 2 && f.wire == GWF_PB_LEN) {
            denied = f.data;
            denied_len = f.len;
        } else if (f.number == 3 && f.wire == GWF_PB_LEN) {
            ok = f.data;
            ok_len = f.len;
        }
    }
    if (rc < 0)
        goto bad;
    if (code == 0) {
        v->kind = EA_VERDICT_ALLOW;
        if ((ok && decode_ok(ok, ok_len, limit, v, &ok_metadata,
                             &has_ok_metadata) != 0) ||
            decode_metadata(data, len, v, &ok_metadata, has_ok_metadata) != 0)
            goto bad;
        pb_struct_reader_free(&ok_metadata);
        return 0;
    }
    v->kind = EA_VERDICT_DENY;
    v->status = 403;
    if (denied && decode_denied(denied, denied_len, limit, v) != 0) {
        /* Still a denial: a plain 403, nothing of the broken part. */
        const char *note = v->note;
        size_t dropped = v->dropped_headers;
        ea_verdict_free(v);
        v->kind = EA_VERDICT_DENY;
        v->status = 403;
        v->dropped_headers = dropped;
        v->note = note ? note : "denied_response is malformed";
    }
    return 0;
bad : {
    const char *note = v->note;
    pb_struct_reader_free(&ok_metadata);
    ea_verdict_free(v);
    v->kind = EA_VERDICT_ERROR;
    v->error = note ? note : "malformed CheckResponse";
}
    return -1;
}

/* The verdict of a call the SDK's gRPC client carried: the SDK judged
 * the stream (a cut or malformed answer is FAILED), the message is the
 * CheckResponse. */
static void
grpc_lean_verdict(const ea_config *cfg, const ea_call *call, ea_verdict *v)
{
    if (call->grpc_outcome != GWF_GRPC_ANSWERED) {
        v->error = call->grpc_error
                       ? call->grpc_error
                       : "the gRPC call to the authz server failed";
        v->retryable = call->grpc_retryable;
        return;
    }
    if (call->grpc_status != 0) {
        v->error = "the Check call failed (grpc-status not 0)";
        /* UNAVAILABLE (14): the server asks to be tried again. */
        v->retryable = call->grpc_status == 14;
        return;
    }
    if (call->body.failed) {
        v->error = "out of memory for the CheckResponse";
        return;
    }
    ea_check_response_decode((const uint8_t *)call->body.data, call->body.len,
                             &cfg->answer_limit, v);
    /* Well framed, yet no CheckResponse: a peer that sends that is not
     * one to send the next check to on the same connection. */
    if (v->kind == EA_VERDICT_ERROR)
        gwf_grpc_call_distrust(call->grpc_answering);
}

void
ea_grpc_verdict(const ea_config *cfg, const ea_call *call, CURLcode result,
                ea_verdict *v)
{
    const ea_pair *status;
    const uint8_t *body = (const uint8_t *)call->body.data;
    size_t len = call->body.len, msg_len = 0;
    const uint8_t *msg = NULL;

    memset(v, 0, sizeof(*v));
    v->kind = EA_VERDICT_ERROR;
    if (call->grpc_lean) {
        grpc_lean_verdict(cfg, call, v);
        return;
    }
    if (call->too_many_headers) {
        v->error = "the gRPC answer has more than " EA_STR(
            EA_MAX_GRPC_METADATA) " header or trailer lines";
        return;
    }
    if (result != CURLE_OK || call->too_big || call->body.failed) {
        v->error = call->too_big ? "the authz server's answer is too large"
                                 : curl_easy_strerror(result);
        v->retryable = ea_transport_retryable(result);
        return;
    }
    if (call->status != 200) {
        v->error = "the authz server did not answer 200 to the gRPC call";
        v->retryable = call->status >= 500;
        return;
    }
    /* The result is the trailers'. A grpc-status in the first HEADERS is
     * a trailers-only answer, which carries no message: with a body after
     * it and no trailers the stream is not a whole gRPC answer (Envoy
     * fails it too). */
    status = ea_pairs_find(&call->trailers, "grpc-status", 0);
    if (!status && call->body.len == 0)
        status = ea_pairs_find(&call->response_headers, "grpc-status", 0);
    if (!status && ea_pairs_find(&call->response_headers, "grpc-status", 0)) {
        v->error = "grpc-status without trailers after the message";
        return;
    }
    if (!status || strcmp(status->value, "0") != 0) {
        v->error = "the Check call failed (grpc-status not 0)";
        /* UNAVAILABLE (14): the server asks to be tried again. */
        v->retryable = status && strcmp(status->value, "14") == 0;
        return;
    }
    switch (gwf_grpc_unframe(body, len, &msg, &msg_len)) {
    case GWF_GRPC_FRAME_OK:
        ea_check_response_decode(msg, msg_len, &cfg->answer_limit, v);
        return;
    case GWF_GRPC_FRAME_BAD_LENGTH:
        v->error = "the CheckResponse frame is cut or followed by more";
        return;
    default:
        v->error = "no uncompressed CheckResponse in the answer";
        return;
    }
}
