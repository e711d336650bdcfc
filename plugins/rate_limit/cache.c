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
 * correctness. Keys carry client-chosen values (headers, addresses): the
 * hash is keyed with a random seed per table, so that no client can
 * aim many keys at one bucket.
 */
#include "rate_limit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

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
    uint64_t seed;
};

/* Eight bytes a step, a multiply and a shift each (a key is looked up on
 * every request over its limit), keyed with the table's seed. */
static uint32_t
hash_key(const rl_cache *c, const char *key, size_t len)
{
    uint64_t h = c->seed ^ (len * UINT64_C(0x9e3779b97f4a7c15)), w;

    while (len >= 8) {
        memcpy(&w, key, 8);
        h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 32;
        key += 8;
        len -= 8;
    }
    if (len) {
        w = 0;
        memcpy(&w, key, len);
        h = (h ^ w) * UINT64_C(0xc4ceb9fe1a85ec53);
        h ^= h >> 29;
    }
    h *= UINT64_C(0xff51afd7ed558ccd);
    return (uint32_t)(h ^ (h >> 32));
}

rl_cache *
rl_cache_new(void)
{
    rl_cache *c = calloc(1, sizeof(rl_cache));

    if (c && getrandom(&c->seed, sizeof(c->seed), GRND_NONBLOCK) !=
                 (ssize_t)sizeof(c->seed)) {
        /* No entropy yet (early boot): the clock and the address still
         * differ from one worker and one run to the next. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        c->seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                  (uint64_t)(uintptr_t)c;
    }
    return c;
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

int
rl_cache_empty(const rl_cache *c)
{
    return c->count == 0;
}

int64_t
rl_cache_has(rl_cache *c, const char *key, size_t len, int64_t now)
{
    rl_cache_entry *e;

    if (c->count == 0)
        return 0; /* no key is over its limit: nothing to hash */
    e = c->buckets[hash_key(c, key, len) % RL_CACHE_BUCKETS];
    for (; e; e = e->next)
        if (e->len == len && memcmp(e->key, key, len) == 0)
            return e->expires > now ? e->expires : 0;
    return 0;
}

void
rl_cache_put(rl_cache *c, const char *key, size_t len, int64_t expires,
             int64_t now)
{
    size_t b = hash_key(c, key, len) % RL_CACHE_BUCKETS;
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
