/*
 * keys.c - the API keys of an api_key_auth instance, and the lookup of
 * the key a request presents.
 *
 * The key a client presents is a secret guess: the lookup must not tell
 * it how close it came. A string comparison that stops at the first
 * differing byte would; so would a hash table keyed by the key itself
 * with a predictable hash (the probe count then depends on the guess).
 * Here every key is stored as SHA-256(k || key), k a random 32-byte key
 * drawn when the config loads (a prefix-keyed SHA-256: what matters here
 * is that nobody without k can predict a digest, and that equal digests
 * mean equal keys). A lookup computes the digest of the presented key once
 * and probes an open-addressing table whose slot is the digest's first
 * bytes, comparing whole digests with CRYPTO_memcmp. The client cannot
 * predict any digest, so neither the slot nor the probe count says
 * anything about its guess, and a match needs all 32 bytes. The table
 * holds no key in the clear.
 *
 * The table is at most half full, so a probe sequence is short; it
 * grows as keys are added (which also finds a key given twice in one
 * probe sequence) and is read-only afterwards (shared by every worker).
 */
#include "api_key_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

int
ak_keys_init(ak_keys *k)
{
    memset(k, 0, sizeof(*k));
    /* Fetched once: OpenSSL 3 fetches implicitly on every init of
     * EVP_sha256(), which costs more than the digest of a short key. */
    k->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!k->sha256)
        return -1;
    return RAND_bytes(k->hash_key, sizeof(k->hash_key)) == 1 ? 0 : -1;
}

/* SHA-256(hash_key || key) in `work`, or in a context of its own when
 * `work` is NULL. The hash key is shorter than a SHA-256 block, so no
 * state could be computed from it ahead: re-initialising a reused
 * context is the whole saving. */
static int
digest_of(const ak_keys *k, EVP_MD_CTX *work, const char *key, size_t len,
          unsigned char out[AK_DIGEST_LEN])
{
    EVP_MD_CTX *ctx = work ? work : EVP_MD_CTX_new();
    unsigned int out_len = 0;
    int ok = ctx && k->sha256 && EVP_DigestInit_ex2(ctx, k->sha256, NULL) &&
             EVP_DigestUpdate(ctx, k->hash_key, AK_DIGEST_LEN) &&
             EVP_DigestUpdate(ctx, key, len) &&
             EVP_DigestFinal_ex(ctx, out, &out_len) && out_len == AK_DIGEST_LEN;

    if (!work)
        EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static size_t
slot_of(const unsigned char digest[AK_DIGEST_LEN], size_t mask)
{
    uint64_t h;

    memcpy(&h, digest, sizeof(h));
    return (size_t)h & mask;
}

/* The index of client id `client`: the last one added when it is the
 * same (a Secret's entries come one after the other), else a new copy.
 * A client named in two Secrets is stored twice, which costs a string;
 * searching every id for every key would cost a config of many keys
 * seconds (n squared compares). */
static uint32_t
client_index(ak_keys *k, const char *client)
{
    if (k->client_n && strcmp(k->clients[k->client_n - 1], client) == 0)
        return (uint32_t)(k->client_n - 1);
    if (k->client_n >= UINT32_MAX - 1)
        return UINT32_MAX;
    if (k->client_n == k->client_cap) {
        size_t cap = k->client_cap ? k->client_cap * 2 : 8;
        char **v = realloc(k->clients, cap * sizeof(*v));
        if (!v)
            return UINT32_MAX;
        k->clients = v;
        k->client_cap = cap;
    }
    k->clients[k->client_n] = strdup(client);
    if (!k->clients[k->client_n])
        return UINT32_MAX;
    return (uint32_t)k->client_n++;
}

/* Put entry `e` in the table (the slot of its digest, then the next
 * free one). The table has a free slot. */
static void
insert(ak_entry *slots, size_t mask, const ak_entry *e)
{
    size_t s = slot_of(e->digest, mask);

    while (slots[s].client_plus_one)
        s = (s + 1) & mask;
    slots[s] = *e;
}

/* Keep the table at most half full for one more entry: double it and
 * put every entry in again when needed. */
static int
reserve(ak_keys *k)
{
    size_t n = k->slots ? k->mask + 1 : 16;
    ak_entry *slots;

    if (k->slots && 2 * (k->pending_n + 1) <= n)
        return 0;
    while (2 * (k->pending_n + 1) > n)
        n <<= 1;
    slots = calloc(n, sizeof(*slots));
    if (!slots)
        return -2;
    for (size_t i = 0; i < k->pending_n; i++)
        insert(slots, n - 1, &k->pending[i]);
    free(k->slots);
    k->slots = slots;
    k->mask = n - 1;
    return 0;
}

int
ak_keys_add(ak_keys *k, const char *key, size_t len, const char *client,
            const char **other)
{
    unsigned char d[AK_DIGEST_LEN];
    uint32_t ci;
    size_t s;

    if (digest_of(k, NULL, key, len, d) != 0 || reserve(k) != 0)
        return -2;
    /* Config time, the operator's own keys: a plain compare is fine. The
     * table is built as keys come, so finding a key given twice is one
     * probe sequence, not a pass over every key. */
    for (s = slot_of(d, k->mask); k->slots[s].client_plus_one;
         s = (s + 1) & k->mask)
        if (memcmp(k->slots[s].digest, d, AK_DIGEST_LEN) == 0) {
            *other = k->clients[k->slots[s].client_plus_one - 1];
            return 1;
        }
    if (k->pending_n == k->pending_cap) {
        size_t cap = k->pending_cap ? k->pending_cap * 2 : 16;
        ak_entry *v = realloc(k->pending, cap * sizeof(*v));
        if (!v)
            return -2;
        k->pending = v;
        k->pending_cap = cap;
    }
    ci = client_index(k, client);
    if (ci == UINT32_MAX || k->pending_n >= UINT32_MAX / 4)
        return -2;
    memcpy(k->pending[k->pending_n].digest, d, AK_DIGEST_LEN);
    k->pending[k->pending_n].client_plus_one = ci + 1;
    k->slots[s] = k->pending[k->pending_n++];
    return 0;
}

int
ak_keys_build(ak_keys *k)
{
    /* The table grew with the keys; an instance with none still gets
     * an (empty) one. */
    return reserve(k);
}

const char *
ak_keys_find(const ak_keys *k, const char *key, size_t len)
{
    return ak_keys_find_in(k, NULL, key, len);
}

const char *
ak_keys_find_in(const ak_keys *k, EVP_MD_CTX *work, const char *key, size_t len)
{
    unsigned char d[AK_DIGEST_LEN];
    const char *found = NULL;
    size_t s;

    if (!k->slots || digest_of(k, work, key, len, d) != 0)
        return NULL;
    s = slot_of(d, k->mask);
    while (k->slots[s].client_plus_one) {
        if (CRYPTO_memcmp(k->slots[s].digest, d, AK_DIGEST_LEN) == 0) {
            found = k->clients[k->slots[s].client_plus_one - 1];
            break;
        }
        s = (s + 1) & k->mask;
    }
    OPENSSL_cleanse(d, sizeof(d));
    return found;
}

size_t
ak_keys_count(const ak_keys *k)
{
    return k->pending_n;
}

void
ak_keys_free(ak_keys *k)
{
    for (size_t i = 0; i < k->client_n; i++)
        free(k->clients[i]);
    free(k->clients);
    free(k->pending);
    free(k->slots);
    OPENSSL_cleanse(k->hash_key, sizeof(k->hash_key));
    EVP_MD_free(k->sha256);
    memset(k, 0, sizeof(*k));
}
