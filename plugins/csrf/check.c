/*
 * check.c - the CSRF origin check, Envoy's semantics, without a host.
 *
 * Envoy's CSRF filter takes the source origin from Origin, or from
 * Referer when Origin is absent or empty, reduced to its host and port
 * ("https://app.example:8443/page" -> "app.example:8443"); the target
 * origin is the request's Host (:authority). The request is valid when
 * the two are the same, or an additional origin matches the source's
 * host and port. A value that is not an absolute URL (Origin: null) is
 * compared as it is, and so never equals a host.
 *
 * gwf compares source and target without case (host names have none;
 * Envoy compares bytes, which only refuses more), and treats a URL with
 * user info ("https://a.example@evil.example") as no URL at all, so the
 * whole value is compared and nothing that hides a host is trusted.
 * No allocation: this runs on every checked request.
 */
#include "csrf.h"

#include <string.h>

int
csrf_is_modify_method(gwf_view method)
{
    return gwf_view_eq(method, "POST") || gwf_view_eq(method, "PUT") ||
           gwf_view_eq(method, "DELETE") || gwf_view_eq(method, "PATCH");
}

static int
is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

gwf_view
csrf_host_and_port(gwf_view value)
{
    size_t i = 0, start, end;

    if (value.len == 0 || !is_alpha((unsigned char)value.ptr[0]))
        return value;
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
    while (i < value.len &&
           (is_alpha((unsigned char)value.ptr[i]) ||
            (value.ptr[i] >= '0' && value.ptr[i] <= '9') ||
            value.ptr[i] == '+' || value.ptr[i] == '-' || value.ptr[i] == '.'))
        i++;
    if (value.len - i < 3 || memcmp(value.ptr + i, "://", 3) != 0)
        return value;
    start = i + 3;
    end = start;
    while (end < value.len && value.ptr[end] != '/' && value.ptr[end] != '?' &&
           value.ptr[end] != '#')
        end++;
    if (end == start || memchr(value.ptr + start, '@', end - start))
        return value;
    return (gwf_view){value.ptr + start, end - start};
}

static int
lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int
bytes_eq(const char *a, const char *b, size_t n, int ignore_case)
{
    return ignore_case ? ieq(a, b, n) : memcmp(a, b, n) == 0;
}

static int
matcher_matches(const csrf_matcher *m, gwf_view s, pcre2_match_data *md,
                pcre2_match_context *cfg_ctx)
{
    const gwf_view t = m->text;

    switch (m->kind) {
    case CSRF_EXACT:
        return s.len == t.len && bytes_eq(s.ptr, t.ptr, t.len, m->ignore_case);
    case CSRF_PREFIX:
        return s.len >= t.len && bytes_eq(s.ptr, t.ptr, t.len, m->ignore_case);
    case CSRF_SUFFIX:
        return s.len >= t.len &&
               bytes_eq(s.ptr + s.len - t.len, t.ptr, t.len, m->ignore_case);
    case CSRF_CONTAINS:
        for (size_t i = 0; s.len >= t.len && i <= s.len - t.len; i++)
            if (bytes_eq(s.ptr + i, t.ptr, t.len, m->ignore_case))
                return 1;
        return 0;
    case CSRF_REGEX:
        /* A negative result (no match, bad UTF-8, the match limit) is
         * no match: the request is not trusted. */
        return md && pcre2_match(m->regex, (PCRE2_SPTR)(s.ptr ? s.ptr : ""),
                                 s.len, 0, 0, md, cfg_ctx) >= 0;
    }
    return 0;
}

int
csrf_source_allowed(const csrf_config *cfg, gwf_view source, gwf_view target,
                    pcre2_match_data *md)
{
    if (source.len == 0)
        return 0;
    if (source.len == target.len && ieq(source.ptr, target.ptr, source.len))
        return 1;
    for (size_t i = 0; i < cfg->origin_count; i++)
        if (matcher_matches(&cfg->origins[i], source, md, cfg->match_ctx))
            return 1;
    return 0;
}
