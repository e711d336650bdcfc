/*
 * cache.c - keys known to be over their limit, per worker.
 *
 * Once Redis says a window's key is over the limit, every further request
 * for that key in that window is refused from here, with no Redis traffic
 * at all, until the window ends. The key already names its window, so an
 * entry can only ever match within it; `expires` (the window's end) lets
 * full tables drop dead entries. One table per worker: no locks.
 *
 * The table is bounded (RL_CACHE_MAX entries): when full of live keys, new
 * ones are simply not cached, which costs Redis round trips, never
 * correctness.
 */
#include "rate_limit.h"

#include <stdlib.h>
#include <string.h>

#define RL_CACHE_BUCKETS 1024
#define RL_CACHE_MAX 16384

typedef struct rl_cache_entry rl_cache_entry;
struct rl_cache_entry {
    rl_cache_entry *next;
    int64_t expires;
    size_t len;
    char key[];
};

struct rl_cache {
    rl_cache_entry *buckets[RL_CACHE_BUCKETS];
    size_t count;
};

static uint32_t
hash_key(const char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 16777619u;
    }
    return h;
}

rl_cache *
rl_cache_new(void)
{
    return calloc(1, sizeof(rl_cache));
}

void
rl_cache_free(rl_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < RL_CACHE_BUCKETS; i++) {
        rl_cache_entry *e = c->buckets[i];
        while (e) {
            rl_cache_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(c);
}

static void
cache_sweep(rl_cache *c, int64_t now)
{
    for (size_t i = 0; i < RL_CACHE_BUCKETS; i++) {
        rl_cache_entry **p = &c->buckets[i];
        while (*p) {
            rl_cache_entry *e = *p;
            if (e->expires <= now) {
                *p = e->next;
                free(e);
                c->count--;
            } else {
                p = &e->next;
            }
        }
    }
}

int64_t
rl_cache_has(rl_cache *c, const char *key, size_t len, int64_t now)
{
    rl_cache_entry *e = c->buckets[hash_key(key, len) % RL_CACHE_BUCKETS];

    for (; e; e = e->next)
        if (e->len == len && memcmp(e->key, key, len) == 0)
            return e->expires > now ? e->expires : 0;
    return 0;
}

void
rl_cache_put(rl_cache *c, const char *key, size_t len, int64_t expires,
             int64_t now)
{
    size_t b = hash_key(key, len) % RL_CACHE_BUCKETS;
    rl_cache_entry *e;

    for (e = c->buckets[b]; e; e = e->next) {
        if (e->len == len && memcmp(e->key, key, len) == 0) {
            e->expires = expires; /* a rolling key's wait may grow */
            return;
        }
    }
    if (c->count >= RL_CACHE_MAX)
        cache_sweep(c, now);
    if (c->count >= RL_CACHE_MAX)
        return;
    e = malloc(sizeof(*e) + len);
    if (!e)
        return;
    memcpy(e->key, key, len);
    e->len = len;
    e->expires = expires;
    e->next = c->buckets[b];
    c->buckets[b] = e;
    c->count++;
}
