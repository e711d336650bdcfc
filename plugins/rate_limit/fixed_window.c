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

#include <inttypes.h>

uint64_t
rl_window_start(int64_t now_seconds, uint64_t unit_seconds)
{
    uint64_t now = now_seconds < 0 ? 0 : (uint64_t)now_seconds;
    return now / unit_seconds * unit_seconds;
}

void
rl_fixed_window_key(gwf_strbuf *b, const char *prefix, const char *domain,
                    const rl_entry *entries, size_t count,
                    uint64_t unit_seconds, int64_t now_seconds)
{
    gwf_strbuf_appendf(b, "%s%s_", prefix, domain);
    for (size_t i = 0; i < count; i++) {
        gwf_strbuf_append(b, entries[i].key, entries[i].key_len);
        gwf_strbuf_append(b, "_", 1);
        gwf_strbuf_append(b, entries[i].value, entries[i].value_len);
        gwf_strbuf_append(b, "_", 1);
    }
    gwf_strbuf_appendf(b, "%" PRIu64,
                       rl_window_start(now_seconds, unit_seconds));
}
