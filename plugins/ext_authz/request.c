/*
 * request.c - what of the client's request a check request can carry.
 *
 * A check must carry the request exactly as the upstream will receive it
 * (Envoy sends the request's own :path and :authority), so nothing here
 * rewrites anything: a request whose parts cannot be carried as they are
 * is refused instead. That refusal is the client's doing, never the authz
 * service's failure: it is answered 400 and failOpen does not apply
 * (otherwise a client could make its request uncheckable, by a long
 * method or a stray byte, to have it forwarded unchecked). Every decision
 * here is taken before any I/O: the authz server is not asked.
 *
 * What cannot be carried:
 *   - a missing or empty :method or :path;
 *   - a method that is not an RFC 9110 token or is longer than
 *     EA_MAX_METHOD_BYTES;
 *   - a path with a space, a control byte or DEL (the request line of
 *     the check would break or be read differently);
 *   - an authority or a forwarded header value with a control byte;
 *   - in gRPC mode, any string the CheckRequest carries (method, path,
 *     authority, scheme, header names and values, the body unless
 *     packAsBytes) that is not UTF-8: proto3 strings must be, and a
 *     server that cannot parse the CheckRequest fails the call.
 */
#include "ext_authz.h"

#include <string.h>

/* A request-target byte: visible ASCII or obs-text. */
static int
is_target_byte(unsigned char c)
{
    return c > 0x20 && c != 0x7f;
}

int
ea_utf8_valid(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;

    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;

        /* ASCII, eight bytes at a time: what headers nearly always are. */
        while (len - i >= 8) {
            uint64_t word;
            memcpy(&word, p + i, sizeof(word));
            if (word & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i == len)
            break;
        c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, cp = c & 0x07;
        else
            return 0;
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates and code points past U+10FFFF. */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += n + 1;
    }
    return 1;
}

size_t
ea_utf8_whole_len(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t lead = len, need;

    /* Back over at most three continuation bytes to their lead byte. */
    while (lead > 0 && len - lead < 3 && (p[lead - 1] & 0xc0) == 0x80)
        lead--;
    if (lead == 0 || p[lead - 1] < 0xc0)
        return len; /* ends with ASCII or whole: leave it to validation */
    need = p[lead - 1] >= 0xf0 ? 4 : p[lead - 1] >= 0xe0 ? 3 : 2;
    return len - (lead - 1) < need ? lead - 1 : len;
}

gwf_status
ea_request_parts(gwf_stream *s, ea_request *req, const char **why)
{
    const gwf_host *host = s->host;
    gwf_status st;

    memset(req, 0, sizeof(*req));
    if (host->header_get(s, GWF_REQUEST, ":method", 7, 0, &req->method) !=
            GWF_OK ||
        !gwf_is_header_name(req->method.ptr, req->method.len)) {
        *why = "the request's method is not a token";
        return GWF_ERR_BAD_ARGUMENT;
    }
    if (req->method.len > EA_MAX_METHOD_BYTES) {
        *why = "the request's method is too long to check";
        return GWF_ERR_BAD_ARGUMENT;
    }
    if (host->header_get(s, GWF_REQUEST, ":path", 5, 0, &req->path) != GWF_OK ||
        req->path.len == 0) {
        *why = "the request has no path";
        return GWF_ERR_BAD_ARGUMENT;
    }
    for (size_t i = 0; i < req->path.len; i++) {
        if (!is_target_byte((unsigned char)req->path.ptr[i])) {
            *why = "the request's path has a space or a control byte";
            return GWF_ERR_BAD_ARGUMENT;
        }
    }
    st = host->header_get(s, GWF_REQUEST, ":authority", 10, 0, &req->authority);
    if (st != GWF_OK && st != GWF_ERR_NOT_FOUND)
        return GWF_ERR_INTERNAL; /* the host failed: not "no authority" */
    req->has_authority = st == GWF_OK;
    if (req->has_authority &&
        !gwf_is_header_value(req->authority.ptr, req->authority.len)) {
        *why = "the request's authority has a control byte";
        return GWF_ERR_BAD_ARGUMENT;
    }
    return GWF_OK;
}
