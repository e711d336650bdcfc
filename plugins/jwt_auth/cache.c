/*
 * cache.c - the per-worker cache of verified tokens, so that a client
 * sending the same token again costs a SHA-256 instead of a signature
 * check (an RSA-2048 verify is ~20x a SHA-256 of a typical token).
 *
 * Keyed by SHA-256 of the token and the provider index: a cryptographic
 * hash, because a collision would let one token ride on another's
 * verification. Direct-mapped (the slot is the first bytes of the hash),
 * so the size is fixed at worker start and a lookup is one compare; a new
 * token simply replaces whatever was in its slot. An entry never outlives
 * the token's exp (plus the configured skew): the caller computes that
 * bound. One cache per worker, so no locks. What is cached is opaque
 * here: filter.c keeps the claims already rendered as the stream values
 * and headers it sets, so a hit costs no JSON work either.
 */
#include "jwt_auth.h"

#include <stdlib.h>
#include <string.h>

#define JWT_HASH_LEN 32

typedef struct cache_entry {
    unsigned char hash[JWT_HASH_LEN];
    size_t provider;
    int64_t valid_until_s;
    void *value; /* NULL: empty slot */
} cache_entry;

struct jwt_cache {
    cache_entry *slots;
    size_t mask;
    EVP_MD_CTX *md;
    EVP_MD *sha256; /* fetched once: an implicit fetch per hash shows */
    void (*release)(void *);
};

jwt_cache *
jwt_cache_new(size_t entries, void (*release)(void *))
{
    jwt_cache *c;
    size_t n = 1;

    if (entries == 0)
        return NULL;
    while (n < entries)
        n <<= 1;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->slots = calloc(n, sizeof(*c->slots));
    c->md = EVP_MD_CTX_new();
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!c->slots || !c->md || !c->sha256) {
        jwt_cache_free(c);
        return NULL;
    }
    c->mask = n - 1;
    c->release = release;
    return c;
}

void
jwt_cache_free(jwt_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->slots && i <= c->mask; i++) {
        if (c->slots[i].value)
            c->release(c->slots[i].value);
    }
    free(c->slots);
    EVP_MD_CTX_free(c->md);
    EVP_MD_free(c->sha256);
    free(c);
}

static int
token_hash(jwt_cache *c, const char *token, size_t len, size_t provider,
           unsigned char out[JWT_HASH_LEN])
{
    unsigned int out_len = 0;
    uint64_t p = provider;

    return EVP_DigestInit_ex(c->md, c->sha256, NULL) == 1 &&
           EVP_DigestUpdate(c->md, &p, sizeof(p)) == 1 &&
           EVP_DigestUpdate(c->md, token, len) == 1 &&
           EVP_DigestFinal_ex(c->md, out, &out_len) == 1 &&
           out_len == JWT_HASH_LEN;
}

static size_t
slot_of(const jwt_cache *c, const unsigned char *hash)
{
    size_t v;
    memcpy(&v, hash, sizeof(v));
    return v & c->mask;
}

void *
jwt_cache_get(jwt_cache *c, const char *token, size_t len, size_t provider,
              int64_t now_s)
{
    unsigned char hash[JWT_HASH_LEN];
    cache_entry *e;

    if (!c || !token_hash(c, token, len, provider, hash))
        return NULL;
    e = &c->slots[slot_of(c, hash)];
    if (!e->value || e->provider != provider ||
        memcmp(e->hash, hash, JWT_HASH_LEN) != 0)
        return NULL;
    if (now_s >= e->valid_until_s) {
        c->release(e->value);
        e->value = NULL;
        return NULL;
    }
    return e->value;
}

void
jwt_cache_put(jwt_cache *c, const char *token, size_t len, size_t provider,
              int64_t valid_until_s, void *value)
{
    unsigned char hash[JWT_HASH_LEN];
    cache_entry *e;

    if (!c)
        return;
    if (!token_hash(c, token, len, provider, hash)) {
        c->release(value);
        return;
    }
    e = &c->slots[slot_of(c, hash)];
    if (e->value)
        c->release(e->value);
    memcpy(e->hash, hash, JWT_HASH_LEN);
    e->provider = provider;
    e->valid_until_s = valid_until_s;
    e->value = value;
}
