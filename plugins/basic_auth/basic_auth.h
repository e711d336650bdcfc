/*
 * basic_auth.h - what the files of the basic_auth plugin share: the
 * htpasswd user table (htpasswd.c), the parser of an Authorization
 * header (credentials.c), the per-worker cache of verified credentials
 * (cache.c) and the plugin's hooks (filter.c).
 *
 * Private to plugins/basic_auth (and the fuzz harness and unit tests
 * that compile these files directly).
 */
#ifndef GWF_BASIC_AUTH_H
#define GWF_BASIC_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* -- htpasswd.c ------------------------------------------------------------ */

/* The password hashes accepted, as htpasswd writes them (-s, -m, -B),
 * plus md5crypt ("$1$", `openssl passwd -1`). Anything else (plain text,
 * crypt(3) DES, SHA-256/512-crypt) is refused when the config loads. */
typedef enum ba_hash_kind {
    BA_HASH_SHA1 = 0, /* {SHA}base64(SHA-1(password)) */
    BA_HASH_APR1,     /* $apr1$salt$hash: md5crypt with magic "$apr1$" */
    BA_HASH_MD5CRYPT, /* $1$salt$hash */
    BA_HASH_BCRYPT    /* $2a$ / $2b$ / $2y$, cost 4..BA_BCRYPT_MAX_COST */
} ba_hash_kind;

/* The highest bcrypt cost accepted. Each step doubles the work; cost 12
 * is ~0.2 s of one core per verification (htpasswd -B uses 5). */
#define BA_BCRYPT_MAX_COST 12
/* The longest user name and the longest htpasswd line accepted. */
#define BA_MAX_USER_LEN 256
#define BA_MAX_LINE_LEN 1024

typedef struct ba_user {
    char *name; /* NUL-terminated; no ':' */
    size_t name_len;
    char *hash; /* the stored hash text, NUL-terminated */
    size_t hash_len;
    ba_hash_kind kind;
    unsigned char sha1[20]; /* BA_HASH_SHA1: the decoded digest */
} ba_user;

/* A set of users, sorted by name (no two alike) once ba_users_finish
 * ran. It holds the digests its verification needs, fetched from
 * OpenSSL once (an implicit fetch per digest costs more than the SHA-1
 * itself, and APR1 runs a thousand of them). */
typedef struct ba_users {
    ba_user *v;
    size_t n, cap;
    struct evp_md_st *sha1, *md5; /* NULL until the first line needs it */
    /* The user with the costliest hash (ba_users_finish): a request
     * naming no user is verified against it, so that an unknown user
     * costs what a wrong password does and timing does not tell which
     * user names exist. */
    size_t decoy;
} ba_users;

/* Parse one htpasswd line ("name:hash", no line ending) and add it.
 * Returns 0; -1 with a message in `err` (which never quotes the hash)
 * for a malformed line or an unsupported hash; -2 out of memory (or
 * OpenSSL has no SHA-1 / MD5). */
int ba_users_add_line(ba_users *us, const char *line, size_t len, char *err,
                      size_t err_len);
/* Sort by name. Returns 0; -1 with the duplicated name in `err` when two
 * entries have the same name (which one counts would be a guess). */
int ba_users_finish(ba_users *us, char *err, size_t err_len);
/* The user called `name` (`len` bytes), or NULL. After ba_users_finish. */
const ba_user *ba_users_find(const ba_users *us, const char *name, size_t len);
void ba_users_free(ba_users *us);

/* 1 when `password` (`len` bytes, any bytes) matches u's hash (u one of
 * us's users), else 0. The derived hash is compared in constant time.
 * bcrypt takes the password as a C string: one with a NUL byte never
 * matches. */
int ba_user_verify(const ba_users *us, const ba_user *u, const char *password,
                   size_t len);
struct evp_md_ctx_st;
/* The same, a SHA-1 user's digest computed in `work` (a digest context
 * the caller owns and reuses, one per thread: re-initialising it costs
 * no allocation, where a context per call costs two). `work` NULL: a
 * context for the call, as ba_user_verify. */
int ba_user_verify_in(const ba_users *us, struct evp_md_ctx_st *work,
                      const ba_user *u, const char *password, size_t len);

/* md5crypt of `password` with `salt` (at most 8 bytes are used) and
 * `magic` ("$1$" or "$apr1$"), on OpenSSL digest `md5` (NULL: fetched
 * for the call): the 22 characters of the hash, written to out[0..21]
 * and NUL-terminated. Returns 0; -1 if OpenSSL failed. */
int ba_md5crypt(const struct evp_md_st *md5, const char *password, size_t len,
                const char *salt, size_t salt_len, const char *magic,
                char out[23]);

/* -- credentials.c ----------------------------------------------------------
 */

/* Why a request carries no usable credential. */
typedef enum ba_cred_status {
    BA_CRED_OK = 0,
    BA_CRED_BAD_SCHEME, /* not "Basic <token>" */
    BA_CRED_MALFORMED   /* bad base64, no ':', empty user, too long */
} ba_cred_status;

/* The longest Authorization value looked at; longer is malformed. */
#define BA_MAX_HEADER_LEN 4096
/* Room for the decoded credential of the longest value looked at. */
#define BA_MAX_DECODED_LEN (BA_MAX_HEADER_LEN / 4 * 3)

/* Parse an Authorization value (as ba_parse_authorization below) into
 * `out`, the caller's buffer: on BA_CRED_OK the user is out[0 ..
 * *user_len) and the password follows the colon, *decoded_len bytes in
 * all, which the caller wipes (OPENSSL_cleanse) when done. On any other
 * result nothing of the credential is left in `out`. No allocation. */
int ba_parse_authorization_into(const char *value, size_t len,
                                char out[BA_MAX_DECODED_LEN],
                                size_t *decoded_len, size_t *user_len);

/* Parse an Authorization value: "Basic" (any case), one or more spaces,
 * the base64 (RFC 4648, padded) of "user:password". On BA_CRED_OK
 * `*decoded` is malloc'd (free with ba_wipe_free(*decoded,
 * *decoded_len)), the user is (*decoded)[0 .. *user_len) and the
 * password follows the colon. Returns -1 (as a ba_cred_status cannot)
 * only when out of memory. */
int ba_parse_authorization(const char *value, size_t len, char **decoded,
                           size_t *decoded_len, size_t *user_len);

/* Overwrite `len` bytes of `s` (a password, a decoded credential) with
 * zeros in a way the compiler keeps, then free it. NULL is ignored. */
void ba_wipe_free(char *s, size_t len);

/* -- cache.c -----------------------------------------------------------------
 */

/* The per-worker cache of verified credentials: keyed by a keyed
 * SHA-256 (of a random key of the instance, then the whole Authorization
 * value), direct-mapped, holding only the digest (never a password). */
#define BA_CACHE_ENTRIES 1024
#define BA_DIGEST_LEN 32

typedef struct ba_cache ba_cache;

ba_cache *ba_cache_new(size_t entries);
void ba_cache_free(ba_cache *c);
/* SHA-256(key || value), `key` BA_DIGEST_LEN bytes, into `out`, with the
 * cache's own SHA-256 fetched once and its own digest context (reused:
 * a cache belongs to one thread). Returns 0; -1 if OpenSSL failed. */
int ba_cache_digest(const ba_cache *c, const unsigned char *key,
                    const char *value, size_t len,
                    unsigned char out[BA_DIGEST_LEN]);
/* The user index stored with `digest`, or -1 when absent. The whole
 * digest is compared, in constant time. */
long ba_cache_get(const ba_cache *c, const unsigned char digest[BA_DIGEST_LEN]);
/* Remember that `digest` verified as user `index` (replacing whatever
 * was in its slot). */
void ba_cache_put(ba_cache *c, const unsigned char digest[BA_DIGEST_LEN],
                  size_t index);

#endif /* GWF_BASIC_AUTH_H */
