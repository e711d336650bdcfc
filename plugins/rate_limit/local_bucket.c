/*
 * local_bucket.c - one token bucket shared by every worker of a data
 * plane (TrafficPolicy rateLimit.local.tokenBucket), without Redis.
 *
 * config_create runs before workers exist (nginx: in the master, before
 * fork), so the bucket lives in an anonymous MAP_SHARED mapping made
 * there: every worker process inherits the same pages, and threads of one
 * process share them anyway. A tiny spin lock (an atomic flag in the
 * mapping) guards the two fields; it is held for a few instructions and
 * never across I/O.
 *
 * Refill is computed lazily on each take from the host's monotonic clock:
 * whole fill intervals since the last fill add tokensPerFill each, up to
 * maxTokens.
 */
#include "rate_limit.h"

#include <stdatomic.h>
#include <sys/mman.h>

struct rl_bucket {
    atomic_flag lock;
    uint64_t tokens;
    int64_t last_fill_ns;
};

rl_bucket *
rl_bucket_create(uint64_t max_tokens, int64_t now_ns)
{
    rl_bucket *b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (b == MAP_FAILED)
        return NULL;
    atomic_flag_clear(&b->lock);
    b->tokens = max_tokens;
    b->last_fill_ns = now_ns;
    return b;
}

void
rl_bucket_destroy(rl_bucket *b)
{
    if (b)
        munmap(b, sizeof(*b));
}

int
rl_bucket_take(rl_bucket *b, const rl_local_config *cfg, int64_t now_ns,
               uint64_t *wait_ns)
{
    int taken;

    while (atomic_flag_test_and_set_explicit(&b->lock, memory_order_acquire))
        ;
    if (now_ns > b->last_fill_ns) {
        uint64_t fills =
            (uint64_t)(now_ns - b->last_fill_ns) / cfg->fill_interval_ns;
        if (fills > 0) {
            uint64_t add = fills > cfg->max_tokens
                               ? cfg->max_tokens
                               : fills * cfg->tokens_per_fill;
            b->tokens = b->tokens + add > cfg->max_tokens ? cfg->max_tokens
                                                          : b->tokens + add;
            b->last_fill_ns += (int64_t)(fills * cfg->fill_interval_ns);
        }
    }
    taken = b->tokens > 0;
    if (taken)
        b->tokens--;
    else if (now_ns >= b->last_fill_ns)
        *wait_ns = cfg->fill_interval_ns - (uint64_t)(now_ns - b->last_fill_ns);
    else
        *wait_ns = cfg->fill_interval_ns;
    atomic_flag_clear_explicit(&b->lock, memory_order_release);
    return taken;
}
