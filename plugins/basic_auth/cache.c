/*
 * cache.c - the per-worker cache of verified basic credentials, so that
 * a client that sends the same bcrypt- or APR1-protected credential on
 * every request pays the slow hash once, not per request.
 *
 * What is stored is not the credential: it is a SHA-256 of a random key
 * the instance drew when its config loaded followed by the whole
 * Authorization value, plus the index of the user it verified as. A memory
 * dump shows no password, and an attacker who does not know the key
 * cannot choose values that land in a given slot. Direct-mapped: the
 * slot is the digest's first bytes; a lookup compares the whole digest
 * with CRYPTO_memcmp, so a near miss costs the same as a far one and is
 * a miss. Only successes are put: a wrong password is verified in full
 * every time (see htpasswd.c on cost). One cache per worker: no locks,
 * and one digest context reused by every lookup.
 */
#include "basic_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

typedef struct ba_cache_entry {
    unsigned char digest[BA_DIGEST_LEN];
    uint32_t user_plus_one; /* 0: empty slot */
} ba_cache_entry;

struct ba_cache {
    ba_cache_entry *slots;
    size_t mask;
    EVP_MD *sha256;   /* fetched once: an implicit fetch per call is slow */
    EVP_MD_CTX *work; /* reused by every digest: no allocation per call */
};

ba_cache *
ba_cache_new(size_t entries)
{
    ba_cache *c;
    size_t n = 1;

    if (entries == 0 || entries > ((size_t)1 << 20))
        return NULL;
    while (n < entries)
        n <<= 1;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->slots = calloc(n, sizeof(*c->slots));
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->work = EVP_MD_CTX_new();
    if (!c->slots || !c->sha256 || !c->work) {
        ba_cache_free(c);
        return NULL;
    }
    c->mask = n - 1;
    return c;
}

void
ba_cache_free(ba_cache *c)
{
    if (!c)
        return;
    free(c->slots);
    EVP_MD_CTX_free(c->work);
    EVP_MD_free(c->sha256);
    free(c);
}

int
ba_cache_digest(const ba_cache *c, const unsigned char *key, const char *value,
                size_t len, unsigned char out[BA_DIGEST_LEN])
{
    unsigned int out_len = 0;
    int ok = c && EVP_DigestInit_ex2(c->work, c->sha256, NULL) &&
             EVP_DigestUpdate(c->work, key, BA_DIGEST_LEN) &&
             EVP_DigestUpdate(c->work, value, len) &&
             EVP_DigestFinal_ex(c->work, out, &out_len) &&
             out_len == BA_DIGEST_LEN;

    return ok ? 0 : -1;
}

static size_t
slot_of(const ba_cache *c, const unsigned char digest[BA_DIGEST_LEN])
{
    uint64_t h;

    memcpy(&h, digest, sizeof(h));
    return (size_t)h & c->mask;
}

long
ba_cache_get(const ba_cache *c, const unsigned char digest[BA_DIGEST_LEN])
{
    const ba_cache_entry *e;

    if (!c)
        return -1;
    e = &c->slots[slot_of(c, digest)];
    if (!e->user_plus_one ||
        CRYPTO_memcmp(e->digest, digest, BA_DIGEST_LEN) != 0)
        return -1;
    return (long)e->user_plus_one - 1;
}

void
ba_cache_put(ba_cache *c, const unsigned char digest[BA_DIGEST_LEN],
             size_t index)
{
    ba_cache_entry *e;

    if (!c || index >= UINT32_MAX)
        return;
    e = &c->slots[slot_of(c, digest)];
    memcpy(e->digest, digest, BA_DIGEST_LEN);
    e->user_plus_one = (uint32_t)index + 1;
}
