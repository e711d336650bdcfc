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

void
rl_key_build(gwf_strbuf *b, const char *prefix, const char *domain,
             const rl_entry *entries, size_t count, const char *tail,
             size_t tail_len)
{
    char room[512], *p = room;
    size_t prefix_len = strlen(prefix), domain_len = strlen(domain);
    size_t len = prefix_len + domain_len + 1 + tail_len;

    for (size_t i = 0; i < count && len <= sizeof(room); i++) {
        if (entries[i].key_len > sizeof(room) ||
            entries[i].value_len > sizeof(room))
            len = sizeof(room) + 1; /* no sum that could wrap */
        else
            len += entries[i].key_len + 1 + entries[i].value_len + 1;
    }
    if (len > sizeof(room)) {
        /* A long key (a long header value): piece by piece. */
        gwf_strbuf_append(b, prefix, prefix_len);
        gwf_strbuf_append(b, domain, domain_len);
        gwf_strbuf_append(b, "_", 1);
        for (size_t i = 0; i < count; i++) {
            gwf_strbuf_append(b, entries[i].key, entries[i].key_len);
            gwf_strbuf_append(b, "_", 1);
            gwf_strbuf_append(b, entries[i].value, entries[i].value_len);
            gwf_strbuf_append(b, "_", 1);
        }
        gwf_strbuf_append(b, tail, tail_len);
        return;
    }
    /* The usual key: made on the stack, appended in one piece. */
    memcpy(p, prefix, prefix_len);
    p += prefix_len;
    memcpy(p, domain, domain_len);
    p += domain_len;
    *p++ = '_';
    for (size_t i = 0; i < count; i++) {
        memcpy(p, entries[i].key, entries[i].key_len);
        p += entries[i].key_len;
        *p++ = '_';
        memcpy(p, entries[i].value, entries[i].value_len);
        p += entries[i].value_len;
        *p++ = '_';
    }
    memcpy(p, tail, tail_len);
    gwf_strbuf_append(b, room, len);
}

void
rl_fixed_window_key(gwf_strbuf *b, const char *prefix, const char *domain,
                    const rl_entry *entries, size_t count,
                    uint64_t unit_seconds, int64_t now_seconds)
{
    char digits[20];

    rl_key_build(
        b, prefix, domain, entries, count, digits,
        gwf_u64_text(digits, rl_window_start(now_seconds, unit_seconds)));
}
