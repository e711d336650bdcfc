/*
 * fixed_window.c - envoyproxy/ratelimit's fixed window, key for key.
 *
 * A limit of N per unit counts hits in Redis under one key per window:
 *
 *     <keyPrefix><domain>_<key1>_<value1>_<key2>_<value2>_..._<windowStart>
 *
 * where windowStart is the Unix time in seconds rounded down to the unit
 * (now / unit * unit). Each decision sends INCRBY key hits and EXPIRE key
 * unit in one pipeline, exactly as envoyproxy/ratelimit does, so both can
 * share one Redis and count together. The request is over the limit when
 * the count after the increment exceeds N.
 */
#include "rate_limit.h"

#include <string.h>

uint64_t
rl_window_start(int64_t now_seconds, uint64_t unit_seconds)
{
    uint64_t now = now_seconds < 0 ? 0 : (uint64_t)now_seconds;
    return now / unit_seconds * unit_seconds;
}

size_t
rl_format_u64(char out[20], uint64_t v)
{
    char tmp[20];
    size_t n = 0, len;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    len = n;
    for (size_t i = 0; i < len; i++)
        out[i] = tmp[--n];
    return len;
}

void
rl_key_start(gwf_strbuf *b, const char *prefix, const char *domain)
{
    gwf_strbuf_append(b, prefix, strlen(prefix));
    gwf_strbuf_append(b, domain, strlen(domain));
    gwf_strbuf_append(b, "_", 1);
}

void
rl_fixed_window_key(gwf_strbuf *b, const char *prefix, const char *domain,
                    const rl_entry *entries, size_t count,
                    uint64_t unit_seconds, int64_t now_seconds)
{
    char digits[20];

    rl_key_start(b, prefix, domain);
    for (size_t i = 0; i < count; i++) {
        gwf_strbuf_append(b, entries[i].key, entries[i].key_len);
        gwf_strbuf_append(b, "_", 1);
        gwf_strbuf_append(b, entries[i].value, entries[i].value_len);
        gwf_strbuf_append(b, "_", 1);
    }
    gwf_strbuf_append(
        b, digits,
        rl_format_u64(digits, rl_window_start(now_seconds, unit_seconds)));
}
