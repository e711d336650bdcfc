/*
 * activation.c - how the CEL evaluator reads a gwf stream: Envoy's
 * attribute names mapped to the host's pseudo-headers, headers,
 * attributes and the jwt_auth plugin's shared values.
 *
 *   request.path       :path (with the query)
 *   request.url_path   :path up to '?'
 *   request.query      :path after '?' ("" without one)
 *   request.host       :authority     request.scheme   :scheme
 *   request.method     :method        request.protocol GWF_ATTR_PROTOCOL
 *   request.referer    the Referer header; request.useragent User-Agent
 *   request.headers[k] header k (lower case), repeated values joined ","
 *   source.address / port          GWF_ATTR_REMOTE_ADDRESS / _PORT
 *   destination.address / port     GWF_ATTR_LOCAL_ADDRESS / _PORT
 *   metadata.filter_metadata['envoy.filters.http.jwt_authn']['payload'][c]
 *                      the value jwt_auth.claim.<c>; the payload exists
 *                      when jwt_auth verified a token (jwt_auth.provider);
 *                      an array or object claim is JSON text, which the
 *                      evaluator reads into lists and maps
 *   request.time       GWF_ATTR_START_TIME (Envoy's: the time of the
 *                      request's first byte), else the host's
 *                      GWF_CLOCK_REALTIME; read at most once per
 *                      evaluation (the evaluator keeps it)
 */
#include "rbac.h"

#include <stdint.h>

#include <string.h>

/* What a host answer means to the evaluator: 1 there, 0 absent (no such
 * header, attribute or value; a name no header can have), -1 the host
 * could not answer (no memory, ...). An absent value makes an expression
 * false; a host failure must not, or a Deny policy would let through
 * what it would have matched: the evaluator fails closed on it. */
static int
presence(gwf_status st)
{
    if (st == GWF_OK)
        return 1;
    return st == GWF_ERR_NOT_FOUND || st == GWF_ERR_BAD_ARGUMENT ? 0 : -1;
}

static int
act_header(void *ctx, const char *name, size_t len, gwf_view *out,
           char *scratch, size_t scratch_size, size_t *used)
{
    gwf_stream *s = ((rbac_request *)ctx)->s;
    gwf_view v;
    size_t o = 0;
    int r;

    *used = 0;
    if (len == 0 || name[0] == ':')
        return 0; /* pseudo-headers are not in Envoy's map either */
    r = presence(s->host->header_get(s, GWF_REQUEST, name, len, 0, out));
    if (r <= 0)
        return r;
    r = presence(s->host->header_get(s, GWF_REQUEST, name, len, 1, &v));
    if (r <= 0)
        return r < 0 ? -1 : 1;
    for (size_t i = 0;; i++) {
        r = presence(s->host->header_get(s, GWF_REQUEST, name, len, i, &v));
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        if (o + (i > 0) + v.len > scratch_size)
            return -1;
        if (i > 0)
            scratch[o++] = ',';
        if (v.len)
            memcpy(scratch + o, v.ptr, v.len);
        o += v.len;
    }
    out->ptr = scratch;
    out->len = o;
    *used = o;
    return 1;
}

static int
pseudo(gwf_stream *s, const char *name, gwf_view *out)
{
    return presence(
        s->host->header_get(s, GWF_REQUEST, name, strlen(name), 0, out));
}

static int
attribute(gwf_stream *s, gwf_attribute a, gwf_view *out)
{
    return presence(s->host->attribute(s, a, out));
}

static int
act_attr(void *ctx, cel_attr attr, gwf_view *out)
{
    gwf_stream *s = ((rbac_request *)ctx)->s;
    const char *q;
    int r;

    switch (attr) {
    case CEL_ATTR_PATH:
        return pseudo(s, ":path", out);
    case CEL_ATTR_URL_PATH:
    case CEL_ATTR_QUERY:
        if ((r = pseudo(s, ":path", out)) <= 0)
            return r;
        q = out->len ? memchr(out->ptr, '?', out->len) : NULL;
        if (attr == CEL_ATTR_URL_PATH) {
            if (q)
                out->len = (size_t)(q - out->ptr);
        } else if (q) {
            out->len -= (size_t)(q - out->ptr) + 1;
            out->ptr = q + 1;
        } else {
            out->ptr = "";
            out->len = 0;
        }
        return 1;
    case CEL_ATTR_HOST:
        return pseudo(s, ":authority", out);
    case CEL_ATTR_SCHEME:
        return pseudo(s, ":scheme", out);
    case CEL_ATTR_METHOD:
        return pseudo(s, ":method", out);
    case CEL_ATTR_REFERER:
        return pseudo(s, "referer", out);
    case CEL_ATTR_USERAGENT:
        return pseudo(s, "user-agent", out);
    case CEL_ATTR_PROTOCOL:
        return attribute(s, GWF_ATTR_PROTOCOL, out);
    case CEL_ATTR_SOURCE_ADDRESS:
        return attribute(s, GWF_ATTR_REMOTE_ADDRESS, out);
    case CEL_ATTR_SOURCE_PORT:
        return attribute(s, GWF_ATTR_REMOTE_PORT, out);
    case CEL_ATTR_DEST_ADDRESS:
        return attribute(s, GWF_ATTR_LOCAL_ADDRESS, out);
    case CEL_ATTR_DEST_PORT:
        return attribute(s, GWF_ATTR_LOCAL_PORT, out);
    default:
        return 0;
    }
}

#define CLAIM_PREFIX "jwt_auth.claim."

static int
act_claim(void *ctx, const char *name, size_t len, gwf_value_type *type,
          gwf_view *out)
{
    gwf_stream *s = ((rbac_request *)ctx)->s;
    char key[256];
    size_t p = sizeof(CLAIM_PREFIX) - 1;
    int r;

    if (!name)
        return presence(
            s->host->value_get(s, "jwt_auth.provider", 17, type, out));
    if (len == 0 || len > sizeof(key) - p)
        return 0; /* longer than any key the host keeps */
    memcpy(key, CLAIM_PREFIX, p);
    memcpy(key + p, name, len);
    r = presence(s->host->value_get(s, key, p + len, type, out));
    if (r <= 0)
        return r;
    return *type == GWF_VALUE_STRING || *type == GWF_VALUE_JSON;
}

static int
act_time(void *ctx, int64_t *ns)
{
    rbac_request *rq = ctx;
    gwf_view v;
    int64_t t = 0;

    if (rq->s->host->attribute(rq->s, GWF_ATTR_START_TIME, &v) == GWF_OK &&
        v.len > 0 && v.len < 20) {
        for (size_t i = 0; i < v.len; i++) {
            if (v.ptr[i] < '0' || v.ptr[i] > '9' ||
                t > (INT64_MAX - (v.ptr[i] - '0')) / 10) {
                t = 0; /* not a time in ns we can hold: the clock's */
                break;
            }
            t = t * 10 + (v.ptr[i] - '0');
        }
    }
    if (t == 0 && rq->inst)
        t = rq->s->host->now(rq->inst, GWF_CLOCK_REALTIME);
    if (t <= 0)
        return 0;
    *ns = t;
    return 1;
}

void
rbac_activation(cel_activation *act, rbac_request *rq)
{
    act->header = act_header;
    act->attr = act_attr;
    act->claim = act_claim;
    act->time_ns = act_time;
    act->ctx = rq;
}
