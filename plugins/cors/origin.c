/*
 * origin.c - CORS origins: reading the operator's allowOrigins entries
 * and matching a request's Origin against them, as the Gateway API's
 * HTTPCORSFilter defines them.
 *
 * An entry is "*" (every origin) or `<scheme>://<host>[:<port>]` with a
 * scheme of http or https and a port the scheme's default (80, 443) when
 * left out. The host is a DNS name or IPv4 address, or a wildcard: "*"
 * alone (every host) or "*." followed by a name, where the "*" is greedy
 * to the left and covers one or more whole labels (https with "*.bar.com"
 * matches www.bar.com and a.www.bar.com, not bar.com nor foobar.com).
 * That is the CORSOrigin pattern of the Gateway API, checked here too.
 *
 * A request's Origin is a serialized origin (RFC 6454): scheme, "://",
 * host, optional port, nothing else. Schemes and hosts compare without
 * case; a port equal to the scheme's default is the same origin as no
 * port. Anything else ("null", a path, user info, an empty or zero or
 * out-of-range port, a leading zero, an empty label) is not an origin
 * and matches nothing, not even "*": a browser never sends such a value,
 * and "null" comes from sandboxed documents that must not be trusted
 * with a credentialed answer.
 *
 * Matching does no allocation and reads each byte at most a few times:
 * it runs on every request of a route with CORS.
 */
#include "cors.h"

#include <string.h>

static int
lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
is_label_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-';
}

/* A DNS name or dotted address: labels of [A-Za-z0-9-]+ joined by
 * single dots, at most 253 bytes. */
static int
valid_name(const char *p, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > CORS_ORIGIN_MAX_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (is_label_char((unsigned char)p[i])) {
            label++;
        } else {
            return 0;
        }
    }
    return label > 0;
}

/* An IPv6 literal with its brackets: "[" hex digits, ':' and '.' "]". */
static int
valid_ipv6(const char *p, size_t len)
{
    if (len < 4 || p[0] != '[' || p[len - 1] != ']')
        return 0;
    for (size_t i = 1; i + 1 < len; i++) {
        int c = lower((unsigned char)p[i]);
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' ||
              c == '.'))
            return 0;
    }
    return 1;
}

/* A port: 1 to 5 digits, no leading zero, 1-65535. */
static int
parse_port(const char *p, size_t len, uint16_t *out)
{
    uint32_t v = 0;

    if (len == 0 || len > 5 || p[0] == '0')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (uint32_t)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return 0;
    *out = (uint16_t)v;
    return 1;
}

/* "http://" or "https://" at the start of p, in any case: sets *https
 * and returns the prefix length, or 0. */
static size_t
parse_scheme(const char *p, size_t len, int *https)
{
    static const char http[] = "http://", secure[] = "https://";

    if (len >= sizeof(secure) - 1 &&
        gwf_view_ieq((gwf_view){p, sizeof(secure) - 1}, secure)) {
        *https = 1;
        return sizeof(secure) - 1;
    }
    if (len >= sizeof(http) - 1 &&
        gwf_view_ieq((gwf_view){p, sizeof(http) - 1}, http)) {
        *https = 0;
        return sizeof(http) - 1;
    }
    return 0;
}

/* Split "host[:port]" (the part after the scheme). The port separator is
 * the last ':' after an IPv6 literal's ']'. Returns 0 when the port is
 * there but not valid. */
static int
split_authority(const char *p, size_t len, int https, gwf_view *host,
                uint16_t *port)
{
    size_t host_len = len;
    size_t from = 0;

    if (len > 0 && p[0] == '[') {
        const char *end = memchr(p, ']', len);
        if (!end)
            return 0;
        from = (size_t)(end - p) + 1;
    }
    for (size_t i = len; i > from; i--) {
        if (p[i - 1] == ':') {
            host_len = i - 1;
            break;
        }
    }
    *port = https ? 443 : 80;
    if (host_len < len &&
        !parse_port(p + host_len + 1, len - host_len - 1, port))
        return 0;
    host->ptr = p;
    host->len = host_len;
    return 1;
}

const char *
cors_origin_parse(const char *text, size_t len, cors_origin *out)
{
    gwf_view host;
    size_t at;

    memset(out, 0, sizeof(*out));
    if (len == 1 && text[0] == '*') {
        out->any = 1;
        return NULL;
    }
    if (len > CORS_ORIGIN_MAX_LEN)
        return "at most 253 bytes";
    /* The Gateway API's pattern takes the scheme in lower case only. */
    if (len >= 8 && memcmp(text, "https://", 8) == 0) {
        out->https = 1;
        at = 8;
    } else if (len >= 7 && memcmp(text, "http://", 7) == 0) {
        at = 7;
    } else {
        return "\"*\" or an origin http(s)://host[:port] (scheme in lower "
               "case)";
    }
    if (!split_authority(text + at, len - at, out->https, &host, &out->port))
        return "a port from 1 to 65535 without a leading zero";
    if (host.len == 1 && host.ptr[0] == '*') {
        out->any_host = 1;
        return NULL;
    }
    if (host.len >= 2 && host.ptr[0] == '*' && host.ptr[1] == '.') {
        out->wildcard = 1;
        if (!valid_name(host.ptr + 2, host.len - 2))
            return "a host: a DNS name, \"*\" or \"*.\" and a DNS name "
                   "(the wildcard only as the first label)";
        /* Keep the '.': the suffix to match. */
        host.ptr += 1;
        host.len -= 1;
    } else if (!valid_name(host.ptr, host.len)) {
        return "a host: a DNS name, \"*\" or \"*.\" and a DNS name "
               "(the wildcard only as the first label)";
    }
    for (size_t i = 0; i < host.len; i++)
        out->host[i] = (char)lower((unsigned char)host.ptr[i]);
    out->host_len = host.len;
    return NULL;
}

/* Case-insensitive compare of n bytes; `want` is already lower case. */
static int
ieq_lower(const char *got, const char *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)got[i]) != want[i])
            return 0;
    return 1;
}

static int
rule_matches(const cors_origin *r, int https, gwf_view host, uint16_t port)
{
    if (r->any)
        return 1;
    if (r->https != https || r->port != port)
        return 0;
    if (r->any_host)
        return 1;
    if (r->wildcard)
        /* ".bar.com" is a suffix, and something (a whole label, since
         * the host is a valid name) stands before it. */
        return host.len > r->host_len &&
               ieq_lower(host.ptr + host.len - r->host_len, r->host,
                         r->host_len);
    return host.len == r->host_len && ieq_lower(host.ptr, r->host, r->host_len);
}

int
cors_origin_allowed(const cors_origin *rules, size_t count, gwf_view origin)
{
    gwf_view host;
    uint16_t port;
    size_t at;
    int https = 0;

    if (count == 0 || !origin.ptr || origin.len == 0 ||
        origin.len > CORS_ORIGIN_MAX_LEN + 16)
        return 0;
    at = parse_scheme(origin.ptr, origin.len, &https);
    if (at == 0)
        return 0;
    if (!split_authority(origin.ptr + at, origin.len - at, https, &host, &port))
        return 0;
    if (!valid_name(host.ptr, host.len) && !valid_ipv6(host.ptr, host.len))
        return 0;
    for (size_t i = 0; i < count; i++)
        if (rule_matches(&rules[i], https, host, port))
            return 1;
    return 0;
}
