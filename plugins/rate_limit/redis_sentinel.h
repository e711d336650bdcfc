/*
 * redis_sentinel.h - where the primary is, asked of Redis Sentinel
 * (private to the rate_limit folder; see redis_sentinel.c).
 */
#ifndef GWF_RATE_LIMIT_REDIS_SENTINEL_H
#define GWF_RATE_LIMIT_REDIS_SENTINEL_H

#include "rate_limit.h"

typedef struct rl_sentinel rl_sentinel;

typedef struct rl_sentinel_ops {
    /* A sentinel named the primary: `ip` (numeric, NUL-ended, valid for
     * the call) and `port`. */
    void (*on_primary)(void *owner, const char *ip, int port);
    /* No sentinel answered with a primary: `why` says why (last
     * sentinel's reason). */
    void (*on_none)(void *owner, const char *why);
    /* A subscribed sentinel announced +switch-master for our master:
     * the primary moved (the client drops its connection). */
    void (*on_switch)(void *owner, const char *announcement);
} rl_sentinel_ops;

/* For rc->sentinels / master_name (rc: cfg->redis or its perSecond
 * Redis). NULL when out of memory. */
rl_sentinel *rl_sentinel_new(const rl_config *cfg, const rl_redis_config *rc,
                             const rl_sentinel_ops *ops, void *owner);
/* Ends every connection; no callback runs after. NULL is fine. */
void rl_sentinel_free(rl_sentinel *s);
/* Ask the sentinels in turn (from the first) unless an ask is under way;
 * one of on_primary / on_none follows (possibly before this returns).
 * The sentinel that answers is also subscribed to +switch-master. */
void rl_sentinel_ask(rl_sentinel *s);
/* An ask under way. */
int rl_sentinel_asking(const rl_sentinel *s);
/* A decision timed out while asking: the sentinel being asked (or its
 * address being tried) is given up for the next. */
void rl_sentinel_note_timeout(rl_sentinel *s);

#endif
