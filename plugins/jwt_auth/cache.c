/*
 * cache.c - the per-worker cache of verified tokens, so that a client
 * sending the same token again costs a table probe and one comparison
 * instead of a signature check (an RSA-2048 verify is ~100x a hit).
 *
 * Direct-mapped: the slot is a cheap hash of the token's last bytes, its
 * length and the provider index, so the size is fixed at worker start, a
 * lookup is one probe, and a new token simply replaces whatever was in
 * its slot. The hash only chooses the slot; what decides a hit is the
 * whole token, kept in the entry and compared in full, in constant time.
 * So a forged token that lands in a cached token's slot, or differs from
 * it in one byte, is a miss and goes through the full verification, and
 * nothing rests on the hash being hard to collide. Hashing the tail is
 * enough to spread the slots: only verified tokens are put, and a token's
 * last bytes are its signature, which the issuer's key makes random. A
 * client that chooses tails can only pick which slot it misses in.
 *
 * An entry never outlives the token's exp (plus the configured skew):
 * the caller computes that bound, saturated, and the check here is a
 * plain comparison. One cache per worker, so no locks. What is cached is
 * opaque here: filter.c keeps the claims already rendered as the stream
 * values and headers it sets, so a hit costs no JSON work and no
 * allocation either. Memory: the slot table, plus per entry the token and
 * what filter.c rendered from it, both bounded by JWT_MAX_TOKEN_LEN.
 */
#include "jwt_auth.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct cache_entry {
    uint64_t hash; /* slot hash, checked before the full comparison */
    size_t provider;
    int64_t valid_until_s;
    char *token; /* the whole token, as the client sent it */
    size_t token_len;
    void *value; /* NULL: empty slot */
} cache_entry;

struct jwt_cache {
    cache_entry *slots;
    size_t mask;
    size_t used;
    void (*release)(void *);
};

jwt_cache *
jwt_cache_new(size_t entries, void (*release)(void *))
{
    jwt_cache *c;
    size_t n = 1;

    /* The config allows 2^20; far beyond that the rounding would wrap. */
    if (entries == 0 || entries > ((size_t)1 << 30))
        return NULL;
    while (n < entries)
        n <<= 1;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->slots = calloc(n, sizeof(*c->slots));
    if (!c->slots) {
        free(c);
        return NULL;
    }
    c->mask = n - 1;
    c->release = release;
    return c;
}

static void
entry_clear(jwt_cache *c, cache_entry *e)
{
    if (!e->value)
        return;
    c->release(e->value);
    free(e->token);
    e->value = NULL;
    e->token = NULL;
    e->token_len = 0;
    c->used--;
}

void
jwt_cache_free(jwt_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i <= c->mask; i++)
        entry_clear(c, &c->slots[i]);
    free(c->slots);
    free(c);
}

size_t
jwt_cache_count(const jwt_cache *c)
{
    return c ? c->used : 0;
}

static uint64_t
load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* The finaliser of MurmurHash3 (fmix64): every input bit reaches every
 * output bit, so the low bits that pick the slot are well mixed. */
static uint64_t
mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* The slot hash: length, provider and the last (up to) 32 bytes. */
static uint64_t
token_hash(const char *token, size_t len, size_t provider)
{
    uint64_t h = mix64((uint64_t)len * 0x9e3779b97f4a7c15ULL ^ provider);

    if (len >= 32) {
        const char *tail = token + len - 32;
        for (int i = 0; i < 4; i++)
            h = mix64(h ^ load64(tail + 8 * i));
        return h;
    }
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)token[i]) * 0x100000001b3ULL;
    return mix64(h);
}

/* 1 when the `len` bytes of a and b are equal, in a time that depends on
 * `len` only: a client cannot learn a cached token byte by byte. */
static int
equal_ct(const char *a, const char *b, size_t len)
{
    uint64_t diff = 0;
    size_t i = 0;

#if defined(__SSE2__)
    /* 64, then 16 bytes a step (every x86-64 has SSE2): a cache hit
     * compares the whole token, 600 bytes and more for RS256. */
    __m128i acc = _mm_setzero_si128();
    for (; i + 64 <= len; i += 64)
        for (size_t k = 0; k < 64; k += 16)
            acc = _mm_or_si128(
                acc, _mm_xor_si128(_mm_loadu_si128((const void *)(a + i + k)),
                                   _mm_loadu_si128((const void *)(b + i + k))));
    for (; i + 16 <= len; i += 16)
        acc = _mm_or_si128(
            acc, _mm_xor_si128(_mm_loadu_si128((const void *)(a + i)),
                               _mm_loadu_si128((const void *)(b + i))));
    diff =
        (uint64_t)(_mm_movemask_epi8(_mm_cmpeq_epi8(acc, _mm_setzero_si128())) ^
                   0xffff);
#endif
    for (; i + 8 <= len; i += 8)
        diff |= load64(a + i) ^ load64(b + i);
    /* The last bytes: the last 8, which may overlap bytes compared. */
    if (len >= 8)
        diff |= load64(a + len - 8) ^ load64(b + len - 8);
    else
        for (; i < len; i++)
            diff |= (uint64_t)((unsigned char)a[i] ^ (unsigned char)b[i]);
    return diff == 0;
}

void *
jwt_cache_get(jwt_cache *c, const char *token, size_t len, size_t provider,
              int64_t now_s)
{
    uint64_t hash;
    cache_entry *e;

    if (!c)
        return NULL;
    hash = token_hash(token, len, provider);
    e = &c->slots[hash & c->mask];
    if (!e->value || e->hash != hash || e->provider != provider ||
        e->token_len != len || !equal_ct(e->token, token, len))
        return NULL;
    if (now_s >= e->valid_until_s) {
        entry_clear(c, e);
        return NULL;
    }
    return e->value;
}

void
jwt_cache_put(jwt_cache *c, const char *token, size_t len, size_t provider,
              int64_t valid_until_s, void *value)
{
    uint64_t hash;
    cache_entry *e;
    char *copy;

    if (!c)
        return;
    copy = len ? malloc(len) : NULL;
    if (!copy) {
        c->release(value);
        return;
    }
    memcpy(copy, token, len);
    hash = token_hash(token, len, provider);
    e = &c->slots[hash & c->mask];
    entry_clear(c, e);
    e->hash = hash;
    e->provider = provider;
    e->valid_until_s = valid_until_s;
    e->token = copy;
    e->token_len = len;
    e->value = value;
    c->used++;
}
