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
rl_key_build(gwf_strbuf *b, const char *head, size_t head_len,
             const rl_entry *entries, size_t count, const char *tail,
             size_t tail_len)
{
    char room[512], *p = room;
    size_t len =
        head_len > sizeof(room) ? sizeof(room) + 1 : head_len + tail_len;

    for (size_t i = 0; i < count && len <= sizeof(room); i++) {
        if (entries[i].key_len > sizeof(room) ||
            entries[i].value_len > sizeof(room))
            len = sizeof(room) + 1; /* no sum that could wrap */
        else
            len += entries[i].key_len + 1 + entries[i].value_len + 1;
    }
    if (len > sizeof(room)) {
        /* A long key (a long header value): piece by piece. */
        gwf_strbuf_append(b, head, head_len);
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
    memcpy(p, head, head_len);
    p += head_len;
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

/* The digits of window start `start`, from `texts` or made into it. */
static const char *
window_text(rl_window_texts *texts, uint64_t start, size_t *len)
{
    unsigned i;

    for (i = 0; i < RL_WINDOW_TEXTS; i++)
        if (texts->at[i].len && texts->at[i].start == start) {
            *len = texts->at[i].len;
            return texts->at[i].text;
        }
    i = texts->next;
    texts->next = (i + 1) % RL_WINDOW_TEXTS;
    texts->at[i].start = start;
    texts->at[i].len = gwf_u64_text(texts->at[i].text, start);
    *len = texts->at[i].len;
    return texts->at[i].text;
}

void
rl_fixed_window_key(gwf_strbuf *b, const char *head, size_t head_len,
                    const rl_entry *entries, size_t count,
                    uint64_t unit_seconds, int64_t now_seconds,
                    rl_window_texts *texts)
{
    uint64_t start = rl_window_start(now_seconds, unit_seconds);
    char digits[20];
    const char *text = digits;
    size_t len;

    if (texts)
        text = window_text(texts, start, &len);
    else
        len = gwf_u64_text(digits, start);
    rl_key_build(b, head, head_len, entries, count, text, len);
}
