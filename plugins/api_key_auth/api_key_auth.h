/*
 * api_key_auth.h - what the files of the api_key_auth plugin share: the
 * table of API keys (keys.c), finding and removing a key in a query
 * string or a Cookie header (extract.c), and the plugin's hooks
 * (filter.c).
 *
 * Private to plugins/api_key_auth (and the fuzz harness and unit tests
 * that compile these files directly).
 */
#ifndef GWF_API_KEY_AUTH_H
#define GWF_API_KEY_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* -- keys.c ------------------------------------------------------------------
 */

#define AK_DIGEST_LEN 32

typedef struct ak_entry {
    unsigned char digest[AK_DIGEST_LEN]; /* keyed SHA-256 of the key */
    uint32_t client_plus_one;            /* 0: empty slot */
} ak_entry;

/* The API keys of one instance: an open-addressing table indexed by a
 * keyed SHA-256 of the key (SHA-256 of a random key of the instance,
 * then the API key). Build it with ak_keys_init, ak_keys_add for each
 * key, then ak_keys_build. */
typedef struct ak_keys {
    unsigned char hash_key[AK_DIGEST_LEN];
    struct evp_md_st *sha256; /* fetched once, shared read-only */
    ak_entry *pending;        /* every entry added, in order */
    size_t pending_n, pending_cap;
    ak_entry *slots; /* the table, grown by ak_keys_add */
    size_t mask;
    char **clients; /* client ids, owned */
    size_t client_n, client_cap;
} ak_keys;

/* Draw the hash key, fetch SHA-256. Returns 0; -1 without randomness or
 * SHA-256. */
int ak_keys_init(ak_keys *k);
/* Add API key `key` (`len` bytes) of client `client` (copied). Returns 0;
 * 1 when the same key is already there, with `*other` the client id that
 * has it (the caller decides: same client, or two clients with one key);
 * -2 out of memory or OpenSSL failed. */
int ak_keys_add(ak_keys *k, const char *key, size_t len, const char *client,
                const char **other);
/* Make the lookup table. Returns 0; -2 out of memory. */
int ak_keys_build(ak_keys *k);
/* The client id whose key is `key`, or NULL. One digest, then probes that
 * compare whole digests with CRYPTO_memcmp: no early exit on a partial
 * match, and where the probes go depends on a key the client never
 * sees. */
const char *ak_keys_find(const ak_keys *k, const char *key, size_t len);
struct evp_md_ctx_st;
/* The same, the digest computed in `work`: a context the caller owns and
 * reuses, one per thread (re-initialising it costs no allocation, a
 * context per call costs two). `work` NULL: a context for the call. */
const char *ak_keys_find_in(const ak_keys *k, struct evp_md_ctx_st *work,
                            const char *key, size_t len);
size_t ak_keys_count(const ak_keys *k);
void ak_keys_free(ak_keys *k);

/* -- extract.c ---------------------------------------------------------------
 */

/* The longest key looked at; a longer candidate never matches. */
#define AK_MAX_KEY_LEN 4096

/* Percent-decode `len` bytes ('+' stays '+', as Envoy's query parser
 * keeps it) into malloc'd, NUL-terminated *out. Returns 0; -1 for a
 * malformed escape or no memory. */
int ak_percent_decode(const char *in, size_t len, char **out, size_t *out_len);
/* The same into the caller's `out` (`cap` bytes, not NUL-terminated).
 * Returns 0; -1 for a malformed escape; -2 when the decoded bytes would
 * not fit. What was written is wiped on failure (it may be a key). */
int ak_percent_decode_into(const char *in, size_t len, char *out, size_t cap,
                           size_t *out_len);

/* The parameters called `name` (compared after percent-decoding the
 * parameter's name) in the query of `target` (a request target: path,
 * then '?' and the query). Returns how many there are; the first one's
 * raw value (still encoded; empty for "name" or "name=") in *value. */
size_t ak_query_find(const char *target, size_t len, const char *name,
                     size_t name_len, const char **value, size_t *value_len);

/* `target` without any query parameter whose decoded name is one of
 * `names` (n of them, NUL-terminated), the other parameters kept byte
 * for byte and in order; no '?' is left when none remains. Returns 1 and
 * a malloc'd *out when something was removed, 0 when nothing was (no
 * *out), -1 out of memory. */
int ak_query_remove(const char *target, size_t len, const char *const *names,
                    size_t n, char **out, size_t *out_len);

/* The cookies called `name` in one Cookie header value ("a=1; b=2").
 * Returns how many; the first one's value (without surrounding double
 * quotes) in *value. */
size_t ak_cookie_find(const char *header, size_t len, const char *name,
                      size_t name_len, const char **value, size_t *value_len);

/* The Cookie value without the cookies called one of `names`, the others
 * kept as they were, joined by "; ". Returns as ak_query_remove (*out
 * may be empty: no cookie left). */
int ak_cookie_remove(const char *header, size_t len, const char *const *names,
                     size_t n, char **out, size_t *out_len);

#endif /* GWF_API_KEY_AUTH_H */
