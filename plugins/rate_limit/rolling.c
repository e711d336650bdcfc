/*
 * rolling.c - the rolling algorithm: GCRA (the generic cell rate
 * algorithm) as one Lua script that Redis runs atomically.
 *
 * A fixed window lets 2N requests through around a window edge (N at the
 * end of one window, N at the start of the next: envoyproxy/ratelimit
 * #32, #269). GCRA spaces the limit out instead: a limit of N per P
 * means one request every T = P/N, with bursts of up to N. Redis keeps
 * one number per key, the "theoretical arrival time" (TAT, in ms): a
 * request is allowed if, after adding T to the TAT, the TAT is no more
 * than P ahead of now. The key expires when the TAT passes, so an idle
 * key costs nothing.
 *
 * `now` comes from the data plane's clock (ARGV), not Redis's TIME, so
 * the host's test clock drives it too; data planes sharing a Redis need
 * synchronised clocks, as they do for the fixed window.
 *
 * The script is sent by EVALSHA with its SHA-1, computed here when the
 * config loads and kept in it (no global state: rl_config.rolling_sha);
 * a Redis that does not have it yet answers NOSCRIPT, and the command is
 * sent again as EVAL, which also loads it (redis.c).
 *
 * Replies: {allowed (0/1), remaining, retry_after_ms, reset_ms}, at the
 * RL_ROLLING_* indices (rate_limit.h).
 */
#include "rate_limit.h"

#include <openssl/evp.h>
#include <stdio.h>

const char rl_rolling_script[] =
    "local now = tonumber(ARGV[1])\n"
    "local period = tonumber(ARGV[2])\n"
    "local limit = tonumber(ARGV[3])\n"
    "local hits = tonumber(ARGV[4])\n"
    "if limit <= 0 then return {0, 0, period, 0} end\n"
    "local interval = period / limit\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]))\n"
    "if not tat or tat < now then tat = now end\n"
    "local new_tat = tat + interval * hits\n"
    "if new_tat - now > period then\n"
    "  return {0, 0, math.ceil(new_tat - now - period),\n"
    "          math.ceil(tat - now)}\n"
    "end\n"
    "redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX',\n"
    "           math.ceil(new_tat - now))\n"
    "return {1, math.floor((period - (new_tat - now)) / interval), 0,\n"
    "        math.ceil(new_tat - now)}\n";

void
rl_rolling_sha(char out[41])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    out[0] = '\0';
    if (!EVP_Digest(rl_rolling_script, sizeof(rl_rolling_script) - 1, digest,
                    &len, EVP_sha1(), NULL) ||
        len != 20)
        return;
    for (unsigned i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

void
rl_rolling_key(gwf_strbuf *b, const char *head, size_t head_len,
               const rl_entry *entries, size_t count, uint64_t unit_seconds)
{
    char tail[7 + 20];

    memcpy(tail, "rolling", 7);
    rl_key_build(b, head, head_len, entries, count, tail,
                 7 + gwf_u64_text(tail + 7, unit_seconds));
}
